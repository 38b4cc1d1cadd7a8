// @ts-check
/**
 * `npm test`'s first step: `npm run typecheck` and `npm run lint` at the same time. Each is one
 * single-threaded Node process (about 30 s and 20 s of CPU), so on two cores running them side
 * by side takes the longer of the two instead of their sum, before vitest starts.
 *
 * Each one's output is printed whole when it ends (never interleaved); the exit status is 1 if
 * either failed, so `npm test` stops before the tests as it did when they ran one after the other.
 */
import { spawn } from "node:child_process";

const NPM = process.platform === "win32" ? "npm.cmd" : "npm";
const SCRIPTS = ["typecheck", "lint"];

/** @param {string} script @returns {Promise<boolean>} whether it exited 0 */
function run(script) {
  return new Promise((resolve) => {
    const child = spawn(NPM, ["run", "--silent", script], { stdio: ["ignore", "pipe", "pipe"], shell: process.platform === "win32" });
    /** @type {Buffer[]} */
    const output = [];
    child.stdout.on("data", (chunk) => output.push(chunk));
    child.stderr.on("data", (chunk) => output.push(chunk));
    child.on("error", (error) => {
      output.push(Buffer.from(`${error.message}\n`));
    });
    child.on("close", (code, signal) => {
      const ok = code === 0;
      process.stdout.write(`> npm run ${script}: ${ok ? "ok" : `failed (${code ?? signal})`}\n`);
      if (output.length > 0) process.stdout.write(Buffer.concat(output));
      resolve(ok);
    });
  });
}

const results = await Promise.all(SCRIPTS.map(run));
process.exitCode = results.every(Boolean) ? 0 : 1;
