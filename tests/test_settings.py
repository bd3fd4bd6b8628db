import pytest

from tests.helpers import PRODUCTION_ENV, manage, project_env

pytestmark = pytest.mark.slow


def test_settings_refuse_to_start_without_secret_key_when_debug_off():
    env = project_env(**{k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"})
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "ture", "DEBUG='ture' is not a boolean"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must start with redis://"),
        (
            "FIELD_ENCRYPTION_KEY",
            "x" * 44,
            "FIELD_ENCRYPTION_KEY must be comma-separated Fernet keys",
        ),
        ("SECRET_KEY", "short", "SECRET_KEY is too short"),
        ("EMAIL_PORT", "twenty-five", "EMAIL_PORT='twenty-five' is not an integer"),
    ],
)
def test_settings_refuse_bad_values(name, value, message):
    result = manage("check", env=project_env(**{**PRODUCTION_ENV, name: value}))
    assert result.returncode != 0
    assert message in result.stderr


def test_check_deploy_passes_under_production_settings():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=project_env(**PRODUCTION_ENV)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_secret_read_from_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(PRODUCTION_ENV["SECRET_KEY"] + "\n")
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = manage("check", env=project_env(**env, SECRET_KEY_FILE=str(secret_file)))
    assert result.returncode == 0, result.stderr


def test_openapi_schema_has_no_warnings():
    result = manage(
        "spectacular",
        "--fail-on-warn",
        "--validate",
        "--file",
        "/dev/null",
        env=project_env(**PRODUCTION_ENV),
    )
    assert result.returncode == 0, result.stderr
