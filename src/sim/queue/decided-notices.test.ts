import { describe, expect, it } from "vitest";
import { DecidedNotices } from "./decided-notices.ts";

describe("group notices of a quorum wait for the entry that decided them", () => {
  it("are handed on when an entry at that index and term is applied, by whichever replica, once", () => {
    const notices = new DecidedNotices<string>();
    notices.decided("c0", { index: 7, term: 2, outputs: ["granted m1 t/0", "released m2 t/0"] });
    expect(notices.applied({ index: 6, term: 2 })).toEqual([]);
    expect(notices.applied({ index: 7, term: 2 })).toEqual([
      { replica: "c0", output: "granted m1 t/0" },
      { replica: "c0", output: "released m2 t/0" },
    ]);
    expect(notices.applied({ index: 7, term: 2 })).toEqual([]); // a follower applying it too, or a restart replaying it
    expect(notices.pending).toBe(0);
  });

  it("are true when a later leader commits the deposed leader's entry, and dropped when another term's entry takes the index", () => {
    const notices = new DecidedNotices<string>();
    notices.decided("c0", { index: 9, term: 3, outputs: ["committed 40"] }); // c0 then loses the lead
    notices.decided("c0", { index: 10, term: 3, outputs: ["granted m1 t/1"] });
    // c1 leads in term 4: it kept c0's entry 9 (committed with its no-op) but not 10, which its own entry replaces.
    notices.decided("c1", { index: 10, term: 4, outputs: ["granted m2 t/1"] });
    expect(notices.applied({ index: 9, term: 3 })).toEqual([{ replica: "c0", output: "committed 40" }]);
    expect(notices.applied({ index: 10, term: 4 })).toEqual([{ replica: "c1", output: "granted m2 t/1" }]);
    expect(notices.pending).toBe(0);
  });
});
