// Verifies webhook deliveries that scimgate's tests captured, with the
// standardwebhooks package (not scimgate's own code).
//
//   node verify.mjs FILE
//
// FILE holds one JSON object per line: {"secret", "headers": {...}, "body"}.
// Each delivery must verify with its secret, with the timestamp checked
// against now (the package allows five minutes either way). Prints
// "verified N" and exits 0, or names the first delivery that fails and
// exits 1.
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";

const lines = readFileSync(process.argv[2], "utf8").split("\n").filter((l) => l.trim());
let n = 0;
for (const line of lines) {
  const { secret, headers, body } = JSON.parse(line);
  try {
    const payload = new Webhook(secret).verify(body, headers);
    if (payload === undefined || payload === null) {
      throw new Error("no payload");
    }
  } catch (e) {
    console.error(`delivery ${n + 1} (${headers["webhook-id"]}) does not verify: ${e.message}`);
    process.exit(1);
  }
  n += 1;
}
console.log(`verified ${n}`);
