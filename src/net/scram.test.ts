/**
 * SCRAM-SHA-256: RFC 7677 §3's exchange reproduced byte for byte on both sides; failures (wrong
 * password, unknown user, replayed nonce, a server that does not know the credentials) all end in
 * the same AUTHENTICATION_FAILED; and a fuzz of the server with random, truncated and oversized
 * messages, which must never throw anything but ScramError and never admit anyone.
 */
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SCRAM_MESSAGE_BYTES_MAX, ScramClient, scramCredentials, ScramError, ScramServer, type ScramCredentials } from "./scram.ts";

// RFC 7677 §3.
const RFC = {
  username: "user",
  password: "pencil",
  clientNonce: "rOprNGfwEbeRWgbNEkqO",
  serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
  salt: Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"),
  iterations: 4096,
  clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
  serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};
const SECRET = Buffer.from("mock secret for unknown users");

function server(users: Record<string, ScramCredentials>, nonce = RFC.serverNonce): ScramServer {
  return new ScramServer({ lookup: (name) => users[name], nonce, mockSecret: SECRET });
}

const RFC_CREDENTIALS = scramCredentials(RFC.password, RFC.salt, RFC.iterations);
const rfcUsers = (): Record<string, ScramCredentials> => ({ user: RFC_CREDENTIALS });

function failsAuthentication(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ScramError);
    expect((error as ScramError).code).toBe("AUTHENTICATION_FAILED");
    expect((error as ScramError).message).toBe("authentication failed");
    return;
  }
  throw new Error("expected AUTHENTICATION_FAILED");
}

describe("SCRAM-SHA-256", () => {
  it("the client reproduces RFC 7677's exchange", () => {
    const client = new ScramClient(RFC.username, RFC.password, RFC.clientNonce);
    expect(client.first()).toBe(RFC.clientFirst);
    expect(client.final(RFC.serverFirst)).toBe(RFC.clientFinal);
    expect(() => client.verify(RFC.serverFinal)).not.toThrow();
  });

  it("the server reproduces RFC 7677's exchange and names the user", () => {
    const side = server(rfcUsers());
    expect(side.first(RFC.clientFirst)).toBe(RFC.serverFirst);
    expect(side.final(RFC.clientFinal)).toEqual({ serverFinal: RFC.serverFinal, username: "user" });
  });

  it("a wrong password fails, with the same error as everything else", () => {
    const client = new ScramClient("user", "pencil2", RFC.clientNonce);
    const side = server(rfcUsers());
    const serverFirst = side.first(client.first());
    failsAuthentication(() => side.final(client.final(serverFirst)));
  });

  it("an unknown user gets a plausible salt and iteration count, then fails like a wrong password", () => {
    const side = server(rfcUsers());
    const client = new ScramClient("mallory", "pencil", RFC.clientNonce);
    const serverFirst = side.first(client.first());
    expect(serverFirst).toMatch(/^r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj\)hNlF\$k0,s=[A-Za-z0-9+/]{22}==,i=\d+$/);
    // The same unknown name gets the same salt every time (a changing salt would give it away).
    expect(server(rfcUsers()).first(new ScramClient("mallory", "x", RFC.clientNonce).first())).toBe(serverFirst);
    failsAuthentication(() => side.final(client.final(serverFirst)));
  });

  it("a client-final replayed into another exchange (another server nonce) fails", () => {
    const other = server(rfcUsers(), "another-server-nonce-1234");
    other.first(RFC.clientFirst);
    failsAuthentication(() => other.final(RFC.clientFinal));
  });

  it("the client refuses a server that does not prove it knows the credentials", () => {
    const client = new ScramClient(RFC.username, RFC.password, RFC.clientNonce);
    client.first();
    client.final(RFC.serverFirst);
    failsAuthentication(() => client.verify("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
  });

  it("the client refuses a server nonce that does not extend its own, and an iteration count past the limit", () => {
    failsAuthentication(() => {
      const client = new ScramClient("user", "pencil", RFC.clientNonce);
      client.first();
      client.final("r=someone-else,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    });
    failsAuthentication(() => {
      const client = new ScramClient("user", "pencil", RFC.clientNonce);
      client.first();
      client.final(`r=${RFC.clientNonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999`);
    });
  });

  it("steps out of order end the exchange", () => {
    const side = server(rfcUsers());
    failsAuthentication(() => side.final(RFC.clientFinal));
    failsAuthentication(() => side.first(RFC.clientFirst));
  });

  it("fuzz: random, truncated and oversized messages never crash the server and never admit anyone", () => {
    const valid = [RFC.clientFirst, RFC.clientFinal];
    const message = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.constantFrom(...valid).chain((text) => fc.nat(text.length).map((cut) => text.slice(0, cut))),
      fc.constantFrom(...valid).chain((text) => fc.tuple(fc.nat(text.length), fc.string({ maxLength: 8 })).map(([at, junk]) => text.slice(0, at) + junk + text.slice(at))),
      fc.constant(`n,,n=user,r=${"x".repeat(SCRAM_MESSAGE_BYTES_MAX)}`),
      fc.constant(RFC.clientFinal.replace("p=", `p=${"A".repeat(SCRAM_MESSAGE_BYTES_MAX)}`)),
    );
    fc.assert(
      fc.property(message, message, (first, final) => {
        const side = server(rfcUsers());
        let admitted: string | undefined;
        try {
          side.first(first);
          admitted = side.final(final).username;
        } catch (error) {
          if (!(error instanceof ScramError)) throw error;
        }
        // Only the genuine exchange gets in.
        if (admitted !== undefined) expect([first, final]).toEqual(valid);
      }),
      { numRuns: 300 },
    );
  });
});
