// Prints the Lua scripts the installed Node BullMQ runs, as one JSON object {"<name>-<keys>.lua": source}.
import { createRequire } from "node:module";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const scriptsDir = join(dirname(require.resolve("bullmq/package.json")), "dist", "cjs", "scripts");
const scripts = {};
for (const file of readdirSync(scriptsDir).filter((f) => f.endsWith(".js") && f !== "index.js")) {
  for (const script of Object.values(require(join(scriptsDir, file)))) {
    if (script && typeof script.content === "string") {
      scripts[`${script.name}-${script.keys}.lua`] = script.content;
    }
  }
}
console.log(JSON.stringify(scripts));
