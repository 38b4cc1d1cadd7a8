"use strict";
/**
 * `require("zhumq")`. zhumq is an ES module package; this CommonJS entry hands CommonJS callers
 * the same module instance that `import` gets (one copy: `instanceof ZhumqError` holds whichever
 * way the application loaded it), through Node's require() of ES modules, which Node 20.19+ and
 * 22.12+ do without a flag. Where Node cannot (older releases, or --no-experimental-require-module),
 * the error says what to do instead of Node's generic one.
 */
try {
  module.exports = require("./index.js");
} catch (error) {
  if (error !== null && typeof error === "object" && error.code === "ERR_REQUIRE_ESM") {
    const refused = new Error(
      "zhumq is an ES module package and this Node.js cannot require() ES modules " +
        `(Node ${process.version}; it needs 20.19+ or 22.12+ without --no-experimental-require-module). ` +
        'Use `import { ZhuMQ } from "zhumq"`, or from CommonJS `const { ZhuMQ } = await import("zhumq")`.',
      { cause: error },
    );
    refused.code = "ERR_REQUIRE_ESM";
    throw refused;
  }
  throw error;
}
