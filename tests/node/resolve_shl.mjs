// Resolve a shlink:/ with an independent SMART Health Links implementation (kill-the-clipboard's
// SHLViewer): fetch the manifest, fetch and decrypt the files, parse the FHIR Bundle.
// Usage: node resolve_shl.mjs <shlink> <recipient> [passcode]; prints JSON to stdout.
import { SHLViewer } from "kill-the-clipboard";

const [shlinkURI, recipient, passcode] = process.argv.slice(2);
try {
  const viewer = new SHLViewer({ shlinkURI });
  const result = await viewer.resolveSHL({ recipient, ...(passcode ? { passcode } : {}) });
  console.log(JSON.stringify({ ok: true, label: viewer.shl.label, flag: viewer.shl.flag ?? "",
                               resources: result.fhirResources }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: error.constructor.name, message: String(error.message) }));
}
