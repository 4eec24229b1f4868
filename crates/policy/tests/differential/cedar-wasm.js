// Differential-check driver: evaluates requests with @cedar-policy/cedar-wasm (Cedar compiled
// to WebAssembly, run by Node), independently of virtguard's in-process Cedar.
//
// Usage: node cedar-wasm.js NODE_MODULES_DIR INPUT.json OUTPUT.json
//   INPUT:  {"policies": {"<id>": "<Cedar text of one policy>", ...},
//            "requests": [{"principal", "action", "resource", "context", "entities"}, ...]}
//   OUTPUT: [{"decision": "allow"|"deny", "reason": [ids, sorted], "errors": [ids, sorted]}
//            | {"failure": ["message", ...]}, ...], one per request, in order.
"use strict";
const fs = require("fs");
const path = require("path");

const [modulesDir, inputPath, outputPath] = process.argv.slice(2);
if (!modulesDir || !inputPath || !outputPath) {
  console.error("usage: node cedar-wasm.js NODE_MODULES_DIR INPUT.json OUTPUT.json");
  process.exit(2);
}
const cedar = require(path.join(modulesDir, "@cedar-policy", "cedar-wasm", "nodejs"));
const input = JSON.parse(fs.readFileSync(inputPath, "utf8"));
const policies = { staticPolicies: input.policies };

const out = input.requests.map((r) => {
  const answer = cedar.isAuthorized({
    principal: r.principal,
    action: r.action,
    resource: r.resource,
    context: r.context,
    policies,
    entities: r.entities,
  });
  if (answer.type !== "success") {
    return { failure: answer.errors.map((e) => e.message) };
  }
  const d = answer.response.diagnostics;
  return {
    decision: answer.response.decision,
    reason: [...d.reason].sort(),
    errors: d.errors.map((e) => e.policyId).sort(),
  };
});
fs.writeFileSync(outputPath, JSON.stringify(out));
console.log(`cedar-wasm ${cedar.getCedarVersion ? cedar.getCedarVersion() : "?"}: ${out.length} requests`);
