"""Code tables for the synthetic KR Core-style data.

Code systems are the KR Core 2.0.0 canonical URLs. Diagnosis codes are real KCD-8 codes; LOINC,
ATC, SNOMED CT and CVX codes are real; the HIRA EDI lab and drug codes follow the real formats
(lab D-codes, 9-digit drug codes) and are representative, not a copy of the HIRA tables.
"""

KCD8 = "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-8"
EDI_PROCEDURE = "http://www.hl7korea.or.kr/CodeSystem/hira-edi-procedure"
EDI_MEDICATION = "http://www.hl7korea.or.kr/CodeSystem/hira-edi-medication"
KDCODE = "http://www.hl7korea.or.kr/CodeSystem/kpis-kdcode"
HIRA_KRNPI = "http://www.hl7korea.or.kr/Identifier/hira-krnpi"
HIRA_ORG_TYPES = "http://www.hl7korea.or.kr/CodeSystem/hira-healthcare-organization-types"
KRCORE_VACCINE_TYPES = "http://www.hl7korea.or.kr/fhir/krcore/CodeSystem/krcore-vcnt-types"
KRCORE_ROAD_ADDRESS = (
    "http://www.hl7korea.or.kr/fhir/krcore/StructureDefinition/krcore-roadNameAddress"
)
KRCORE_PROFILE = "http://www.hl7korea.or.kr/fhir/krcore/StructureDefinition/"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
CVX = "http://hl7.org/fhir/sid/cvx"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
OBS_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
MEDREQ_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
# The platform's verified-identity identifier system (accounts.domain.identity_identifier).
PHR_IDENTITY_SYSTEM = "https://phr.example/identifier/verified-identity"

# HIRA institution types (종별코드)
ORG_TYPES = {
    "01": "상급종합병원",
    "11": "종합병원",
    "21": "병원",
    "28": "요양병원",
    "31": "의원",
    "41": "치과병원",
    "51": "치과의원",
    "71": "보건소",
    "92": "한방병원",
    "93": "한의원",
    "00": "공공기관",  # not a HIRA type: the public agencies (NHIS, HIRA, KDCA)
}

FAMILY_NAMES = "김이박최정강조윤장임한오서신권황안송류홍"
GIVEN_NAMES = [
    "민준",
    "서연",
    "도윤",
    "지우",
    "하준",
    "서윤",
    "은우",
    "하은",
    "시우",
    "지민",
    "영수",
    "정희",
    "순자",
    "영호",
    "미경",
    "성민",
    "은정",
    "상훈",
    "혜진",
    "종현",
]
DISTRICTS = [
    ("서울특별시 강남구", "테헤란로", "06236"),
    ("서울특별시 마포구", "월드컵북로", "03925"),
    ("서울특별시 노원구", "동일로", "01689"),
    ("경기도 성남시 분당구", "판교역로", "13494"),
    ("경기도 고양시 일산동구", "중앙로", "10401"),
    ("부산광역시 해운대구", "센텀중앙로", "48058"),
    ("대구광역시 수성구", "달구벌대로", "42020"),
    ("인천광역시 연수구", "컨벤시아대로", "21998"),
    ("광주광역시 서구", "상무중앙로", "61949"),
    ("대전광역시 유성구", "대학로", "34134"),
]

# Chronic conditions: KCD-8 code, Korean name, English name, the course they give.
CHRONIC = {
    "diabetes": (
        "E11.9",
        "합병증을 동반하지 않은 2형 당뇨병",
        "Type 2 diabetes mellitus without complications",
    ),
    "hypertension": ("I10", "본태성(원발성) 고혈압", "Essential (primary) hypertension"),
    "dyslipidemia": ("E78.5", "상세불명의 고지질혈증", "Hyperlipidaemia, unspecified"),
    "hypothyroidism": ("E03.9", "상세불명의 갑상선기능저하증", "Hypothyroidism, unspecified"),
}
ACUTE = [
    ("J00", "급성 비인두염[감기]", "Acute nasopharyngitis [common cold]"),
    ("J06.9", "상세불명의 급성 상기도감염", "Acute upper respiratory infection, unspecified"),
    ("J20.9", "상세불명의 급성 기관지염", "Acute bronchitis, unspecified"),
    ("K29.7", "상세불명의 위염", "Gastritis, unspecified"),
    (
        "K21.9",
        "식도염을 동반하지 않은 위-식도역류병",
        "Gastro-oesophageal reflux disease without oesophagitis",
    ),
    ("A09", "감염성 및 상세불명 기원의 기타 위장염 및 결장염", "Other gastroenteritis and colitis"),
    ("M54.5", "요통", "Low back pain"),
    ("M17.9", "상세불명의 무릎관절증", "Gonarthrosis, unspecified"),
    ("S93.4", "발목의 염좌 및 긴장", "Sprain and strain of ankle"),
    ("H10.9", "상세불명의 결막염", "Conjunctivitis, unspecified"),
    ("L30.9", "상세불명의 피부염", "Dermatitis, unspecified"),
    ("R51", "두통", "Headache"),
]
DENTAL = [
    ("K02.1", "상아질의 우식", "Caries of dentine"),
    ("K05.1", "만성 치은염", "Chronic gingivitis"),
    ("K05.3", "만성 치주염", "Chronic periodontitis"),
    ("K08.8", "치아 및 지지구조의 기타 명시된 장애", "Other specified disorders of teeth"),
]

# Lab tests: key → (HIRA EDI code, Korean name, LOINC, LOINC name, UCUM unit, low, high, decimals)
LABS = {
    "hba1c": (
        "D3022",
        "당화혈색소(HbA1c)",
        "4548-4",
        "Hemoglobin A1c/Hemoglobin.total in Blood",
        "%",
        4.0,
        6.0,
        1,
    ),
    "glucose": (
        "D3013",
        "포도당(공복)",
        "2345-7",
        "Glucose [Mass/volume] in Serum or Plasma",
        "mg/dL",
        70,
        100,
        0,
    ),
    "chol": (
        "D2280",
        "총콜레스테롤",
        "2093-3",
        "Cholesterol [Mass/volume] in Serum or Plasma",
        "mg/dL",
        0,
        200,
        0,
    ),
    "ldl": (
        "D2310",
        "LDL 콜레스테롤",
        "13457-7",
        "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation",
        "mg/dL",
        0,
        130,
        0,
    ),
    "hdl": (
        "D2300",
        "HDL 콜레스테롤",
        "2085-9",
        "Cholesterol in HDL [Mass/volume] in Serum or Plasma",
        "mg/dL",
        40,
        200,
        0,
    ),
    "tg": (
        "D2290",
        "중성지방",
        "2571-8",
        "Triglyceride [Mass/volume] in Serum or Plasma",
        "mg/dL",
        0,
        150,
        0,
    ),
    "ast": (
        "D2170",
        "AST(SGOT)",
        "1920-8",
        "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        0,
        40,
        0,
    ),
    "alt": (
        "D2180",
        "ALT(SGPT)",
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        0,
        40,
        0,
    ),
    "creatinine": (
        "D2250",
        "크레아티닌",
        "2160-0",
        "Creatinine [Mass/volume] in Serum or Plasma",
        "mg/dL",
        0.6,
        1.2,
        2,
    ),
    "bun": (
        "D2240",
        "요소질소(BUN)",
        "3094-0",
        "Urea nitrogen [Mass/volume] in Serum or Plasma",
        "mg/dL",
        8,
        20,
        0,
    ),
    "hb": (
        "D0002050",
        "혈색소",
        "718-7",
        "Hemoglobin [Mass/volume] in Blood",
        "g/dL",
        12.0,
        16.5,
        1,
    ),
    "wbc": (
        "D0002010",
        "백혈구수",
        "6690-2",
        "Leukocytes [#/volume] in Blood by Automated count",
        "10*3/uL",
        4.0,
        10.0,
        1,
    ),
    "plt": (
        "D0002090",
        "혈소판수",
        "777-3",
        "Platelets [#/volume] in Blood by Automated count",
        "10*3/uL",
        150,
        400,
        0,
    ),
    "tsh": (
        "D4220",
        "갑상선자극호르몬(TSH)",
        "3016-3",
        "Thyrotropin [Units/volume] in Serum or Plasma",
        "m[IU]/L",
        0.4,
        4.5,
        2,
    ),
}
LAB_PANELS = {
    "cbc": ["hb", "wbc", "plt"],
    "diabetes": ["hba1c", "glucose"],
    "lipid": ["chol", "ldl", "hdl", "tg"],
    "liver": ["ast", "alt"],
    "kidney": ["creatinine", "bun"],
    "thyroid": ["tsh"],
}

# Vital signs with the KR Core LOINC codes: key → (LOINC, name, Korean name, UCUM unit, decimals)
VITALS = {
    "height": ("8302-2", "Body height", "신장", "cm", 1),
    "weight": ("29463-7", "Body weight", "체중", "kg", 1),
    "bmi": ("39156-5", "Body mass index (BMI) [Ratio]", "체질량지수", "kg/m2", 1),
    "temperature": ("8310-5", "Body temperature", "체온", "Cel", 1),
    "heart_rate": ("8867-4", "Heart rate", "맥박", "/min", 0),
}
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional", "혈압")
BP_SYSTOLIC = ("8480-6", "Systolic blood pressure")
BP_DIASTOLIC = ("8462-4", "Diastolic blood pressure")

# Drugs: key → (HIRA EDI code, Korean product name, ATC, ATC name, dose text)
DRUGS = {
    "metformin": (
        "644900310",
        "다이아벡스정500밀리그램(메트포르민염산염)",
        "A10BA02",
        "metformin",
        "1일 2회 1정 식후 30분",
    ),
    "amlodipine": (
        "649700070",
        "노바스크정5밀리그램(암로디핀베실산염)",
        "C08CA01",
        "amlodipine",
        "1일 1회 1정 아침 식후",
    ),
    "atorvastatin": (
        "648500890",
        "리피토정10밀리그램(아토르바스타틴칼슘)",
        "C10AA05",
        "atorvastatin",
        "1일 1회 1정 저녁 식후",
    ),
    "levothyroxine": (
        "643900190",
        "씬지로이드정0.1밀리그램(레보티록신나트륨)",
        "H03AA01",
        "levothyroxine sodium",
        "1일 1회 1정 아침 공복",
    ),
    "amoxicillin": (
        "643301540",
        "아목시실린캡슐500밀리그램",
        "J01CA04",
        "amoxicillin",
        "1일 3회 1캡슐 식후 30분",
    ),
    "acetaminophen": (
        "645700820",
        "타이레놀정500밀리그램(아세트아미노펜)",
        "N02BE01",
        "paracetamol",
        "1일 3회 1정 필요시",
    ),
    "ibuprofen": (
        "641900630",
        "부루펜정200밀리그램(이부프로펜)",
        "M01AE01",
        "ibuprofen",
        "1일 3회 1정 식후",
    ),
    "famotidine": (
        "642101620",
        "가스터정20밀리그램(파모티딘)",
        "A02BA03",
        "famotidine",
        "1일 2회 1정",
    ),
    "cetirizine": (
        "644301650",
        "지르텍정(세티리진염산염)",
        "R06AE07",
        "cetirizine",
        "1일 1회 1정 취침 전",
    ),
    "chlorhexidine": (
        "649001220",
        "헥사메딘액0.12%(클로르헥시딘글루콘산염)",
        "A01AB03",
        "chlorhexidine",
        "1일 2회 가글",
    ),
}
CHRONIC_DRUG = {
    "diabetes": "metformin",
    "hypertension": "amlodipine",
    "dyslipidemia": "atorvastatin",
    "hypothyroidism": "levothyroxine",
}
ACUTE_DRUGS = ["amoxicillin", "acetaminophen", "ibuprofen", "famotidine", "cetirizine"]

# Immunizations: key → (KR vaccine type code, Korean name, CVX, CVX name)
# Vaccines: key → (KR Core vaccination type code, its display, CVX, CVX name). The KR codes are
# the krcore-vcnt-types CodeSystem's (KR Core 1.0.2 FSH source); COVID-19 has none there, so it is
# coded with CVX only.
VACCINES = {
    "bcg": ("19", "결핵(BCG, 피내접종)", "19", "BCG"),
    "hepb": (
        "18",
        "B형간염(HepB)",
        "08",
        "hepatitis B vaccine, pediatric or pediatric/adolescent dosage",
    ),
    "dtap": (
        "20",
        "디프테리아/파상풍/백일해 (DTaP)",
        "20",
        "diphtheria, tetanus toxoids and acellular pertussis vaccine",
    ),
    "ipv": ("25", "폴리오 (IPV)", "10", "poliovirus vaccine, inactivated"),
    "hib": (
        "26",
        "b형 헤모필루스 인플루엔자 (Hib)",
        "17",
        "Haemophilus influenzae type b vaccine, conjugate unspecified formulation",
    ),
    "pcv": ("27", "폐렴구균(PCV, PPSV)", "133", "pneumococcal conjugate vaccine, 13 valent"),
    "rv": ("28", "로타바이러스(RV) 감염증", "122", "rotavirus vaccine, unspecified formulation"),
    "mmr": (
        "29",
        "홍역/유행성이하선염/풍진 (MMR)",
        "03",
        "measles, mumps and rubella virus vaccine",
    ),
    "var": ("30", "수두 (VAR)", "21", "varicella virus vaccine"),
    "hepa": (
        "31",
        "A형간염(HepA, 소아용)",
        "83",
        "hepatitis A vaccine, pediatric/adolescent dosage, 2 dose schedule",
    ),
    "ijev": (
        "32",
        "일본뇌염 (IJEV, 불활성화 백신)",
        "134",
        "Japanese Encephalitis vaccine for intramuscular administration",
    ),
    "tdap": (
        "24",
        "파상풍/디프테리아/백일해 (Tdap)",
        "115",
        "tetanus toxoid, reduced diphtheria toxoid, and acellular pertussis vaccine, adsorbed",
    ),
    "hpv": (
        "34",
        "사람유두종바이러스 감염증(HPV2, HP4)",
        "62",
        "human papilloma virus vaccine, quadrivalent",
    ),
    "influenza": ("13", "인플루엔자", "158", "influenza, injectable, quadrivalent"),
    "covid19": (None, "코로나19", "213", "SARS-COV-2 (COVID-19) vaccine, UNSPECIFIED FORMULATION"),
    "td": ("23", "파상풍/디프테리아(Td)", "139", "Td(adult) unspecified formulation"),
    "ppsv23": ("27", "폐렴구균(PCV, PPSV)", "33", "pneumococcal polysaccharide vaccine, 23 valent"),
    "zoster": ("43", "대상포진(HZV)", "121", "zoster vaccine, live"),
}

# Imaging: (LOINC, name, Korean name, [conclusions])
IMAGING = [
    (
        "36643-5",
        "XR Chest 2 Views",
        "흉부 X선 촬영",
        ["특이 소견 없음.", "경미한 심비대 소견. 추적 관찰 권고."],
    ),
    (
        "24627-2",
        "CT Chest",
        "흉부 CT",
        ["활동성 폐병변 없음.", "우상엽 4mm 결절, 12개월 후 추적 CT 권고."],
    ),
    ("24566-0", "US Abdomen", "복부 초음파", ["경도의 지방간.", "특이 소견 없음."]),
    ("24590-2", "MR Brain", "뇌 MRI", ["급성 병변 없음.", "양측 대뇌백질의 경미한 허혈성 변화."]),
    ("30746-2", "XR Knee", "무릎 X선 촬영", ["양측 무릎 관절 간격 경도 감소, 퇴행성 관절염 소견."]),
    (
        "24558-9",
        "XR Dental panoramic",
        "파노라마 치과 X선",
        ["#36 치아우식, #47 치조골 경도 흡수."],
    ),
]
PATHOLOGY = [
    ("위 내시경 생검", "만성 표재성 위염, 헬리코박터 음성."),
    ("대장 용종 절제", "관상 선종, 저등급 이형성. 절제연 음성."),
    ("갑상선 세침흡인", "양성 여포성 결절 (Bethesda II)."),
]
PROCEDURES = [
    ("73761001", "Colonoscopy", "대장내시경", "E7660"),
    ("1919006", "Gastroscopy", "위내시경", "E7611"),
    ("174041007", "Laparoscopic appendectomy", "복강경 충수절제술", "Q2862"),
    ("179344006", "Arthroscopy of knee", "무릎 관절경 수술", "N0862"),
    ("110473004", "Cataract surgery", "백내장 수술", "S5119"),
]
DENTAL_PROCEDURES = [
    ("234696006", "Scaling of teeth", "치석제거(스케일링)", "U2233"),
    ("234721005", "Composite restoration", "레진 충전", "U0411"),
    ("55162003", "Tooth extraction", "발치", "U4412"),
]
ALLERGIES = [
    ("764146007", "Penicillin", "페니실린", "medication", "247472004", "Hives", "두드러기"),
    ("387458008", "Aspirin", "아스피린", "medication", "267036007", "Dyspnea", "호흡곤란"),
    ("227037002", "Fish (substance)", "생선", "food", "271807003", "Eruption of skin", "피부 발진"),
    ("256259004", "Pollen", "꽃가루", "environment", "76067001", "Sneezing", "재채기"),
]
DEPARTMENTS = [
    "내과",
    "가정의학과",
    "정형외과",
    "이비인후과",
    "소화기내과",
    "내분비내과",
    "순환기내과",
]
