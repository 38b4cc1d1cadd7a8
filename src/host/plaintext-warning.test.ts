/** A plaintext node says so loudly when it listens beyond loopback (issue 16 item 1). */
import { describe, expect, it } from "vitest";
import { isLoopback, plaintextWarning } from "./real-node.ts";

describe("plaintext beyond loopback", () => {
  it("loopback is 127.0.0.0/8, ::1 and localhost; a wildcard or a real interface is not", () => {
    for (const listen of ["127.0.0.1:9090", "127.1.2.3:0", "[::1]:9090", "localhost:9090"]) expect(isLoopback(listen), listen).toBe(true);
    for (const listen of ["0.0.0.0:9090", "[::]:9090", "10.0.0.5:9090", "example.com:9090", "128.0.0.1:1"]) expect(isLoopback(listen), listen).toBe(false);
  });

  it("the warning names the address and what to do", () => {
    const record = plaintextWarning("0.0.0.0:9090");
    expect(record.level).toBe("warn");
    expect(record.event).toBe("node.plaintext");
    expect(record.message).toMatch(/^PLAINTEXT on 0\.0\.0\.0:9090: .*--tls-ca, --tls-cert and --tls-key/);
  });
});
