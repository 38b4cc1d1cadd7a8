/**
 * npx tsx bench/ring.bench.ts — how well the consistent-hash ring spreads partitions, and how
 * much moves when a broker joins, for several virtual-node counts. Prints tables; asserts nothing.
 * The default virtual-node count (DEFAULT_VIRTUAL_NODES) and its reasoning are in
 * docs/placement.md, from this output.
 *
 * 1. Balance: 1,000 partitions (replication factor 1, topic "orders"), brokers "broker-0".."broker-(n-1)"
 *    for n = 3..12. max/mean = the busiest broker's partitions over the mean; 1.00 is perfect.
 *    Each cell is the mean over NAMINGS cluster namings (broker names prefixed per naming), because
 *    one naming alone is one draw of the hash; the worst naming is printed too.
 *    The "floor" column hashes every partition straight to a broker (an ideal ring): the sampling
 *    noise that no virtual-node count can remove.
 * 2. Movement: the fraction of partitions whose replica set changes when broker n joins n brokers,
 *    against the ideal 1/(n+1) (only what the new broker must take).
 * 3. Cost: time to build a 12-broker ring and to place 1,000 partitions on it, by the plain walk
 *    and by bounded loads, and bounded placement at the coordinator's limits.
 * 4. Plain ring vs bounded loads (placeTopic, PLACEMENT_EPSILON) at the default virtual-node count,
 *    for 1, 6, 12, 100 and 1,000 partitions and replication factors 1 and 3: max/mean replicas and
 *    leaders (replicas[0]) per broker, mean (worst) over the namings.
 * 5. Movement, plain vs bounded: the fraction of partitions whose replica *set* changes when
 *    broker n+1 joins, against the ideal R/(n+1) (the newcomer's fair share of replicas, each in a
 *    different partition), and how often the preferred leader changes.
 * 6. The choice of ε: balance and movement of bounded placement for several ε at 1,000 partitions.
 */
import {
  buildRing,
  DEFAULT_VIRTUAL_NODES,
  maxOverMean,
  movedFraction,
  movedSetFraction,
  placeKeys,
  placePartition,
  placeTopic,
  PLACEMENT_EPSILON,
  replicasPerBroker,
  ringHash,
  type HashRing,
  type Placement,
} from "../src/actors/coordinator/ring.ts";
import { partitionKey, type NodeId } from "../src/actors/shared/ids.ts";

const VIRTUAL_NODE_COUNTS = [3, 16, 64, 256] as const;
const BROKER_COUNTS = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12] as const;
const PARTITIONS = 1_000;
const NAMINGS = 20;

const keys = Array.from({ length: PARTITIONS }, (_, partition) => partitionKey("orders", partition));

function brokerNames(count: number, naming: number): string[] {
  const prefix = naming === 0 ? "broker" : `c${naming}-broker`;
  return Array.from({ length: count }, (_, index) => `${prefix}-${index}`);
}

/**
 * The noise floor: every key to a broker drawn by its own hash (an ideal ring with infinitely many
 * virtual nodes). Even that is not 1.00: 1,000 keys over n brokers is a multinomial draw.
 */
function floorBalance(brokerCount: number): { mean: number; worst: number } {
  let sum = 0;
  let worst = 0;
  for (let naming = 0; naming < NAMINGS; naming++) {
    const brokers = brokerNames(brokerCount, naming);
    const counts = new Map(brokers.map((broker) => [broker, 0]));
    for (const key of keys) {
      const broker = brokers[ringHash(`${naming}:${key}`) % brokerCount]!;
      counts.set(broker, counts.get(broker)! + 1);
    }
    const balance = maxOverMean(counts);
    sum += balance;
    worst = Math.max(worst, balance);
  }
  return { mean: sum / NAMINGS, worst };
}

interface Cell {
  balanceMean: number;
  balanceWorst: number;
  movedMean: number;
}

function measure(virtualNodes: number, brokerCount: number): Cell {
  let balanceSum = 0;
  let balanceWorst = 0;
  let movedSum = 0;
  for (let naming = 0; naming < NAMINGS; naming++) {
    const brokers = brokerNames(brokerCount + 1, naming);
    const before = brokers.slice(0, brokerCount);
    const placement = placeKeys(buildRing(before, virtualNodes), keys, 1);
    const balance = maxOverMean(replicasPerBroker(placement, before));
    balanceSum += balance;
    balanceWorst = Math.max(balanceWorst, balance);
    const after = placeKeys(buildRing(brokers, virtualNodes), keys, 1);
    movedSum += movedFraction(placement, after);
  }
  return { balanceMean: balanceSum / NAMINGS, balanceWorst, movedMean: movedSum / NAMINGS };
}

function pad(text: string, width: number): string {
  return text.padStart(width);
}

function printTables(): void {
  const cells = new Map<string, Cell>();
  for (const virtualNodes of VIRTUAL_NODE_COUNTS) {
    for (const brokers of BROKER_COUNTS) cells.set(`${virtualNodes}/${brokers}`, measure(virtualNodes, brokers));
  }
  const header = `| brokers | ${VIRTUAL_NODE_COUNTS.map((v) => pad(`${v} vn`, 13)).join(" | ")} | ${pad("floor", 13)} |`;
  const rule = `|--------:|${VIRTUAL_NODE_COUNTS.map(() => "--------------:").join("|")}|--------------:|`;

  console.log(`Balance: max/mean partitions per broker, ${PARTITIONS} partitions, mean (worst) over ${NAMINGS} namings\n`);
  console.log(header);
  console.log(rule);
  for (const brokers of BROKER_COUNTS) {
    const row = VIRTUAL_NODE_COUNTS.map((v) => {
      const cell = cells.get(`${v}/${brokers}`)!;
      return pad(`${cell.balanceMean.toFixed(2)} (${cell.balanceWorst.toFixed(2)})`, 13);
    });
    const floor = floorBalance(brokers);
    row.push(pad(`${floor.mean.toFixed(2)} (${floor.worst.toFixed(2)})`, 13));
    console.log(`| ${pad(String(brokers), 7)} | ${row.join(" | ")} |`);
  }

  console.log(`\nMovement: fraction of partitions that move when broker n+1 joins n brokers (ideal 1/(n+1))\n`);
  console.log(`| brokers | ideal | ${VIRTUAL_NODE_COUNTS.map((v) => pad(`${v} vn`, 6)).join(" | ")} |`);
  console.log(`|--------:|------:|${VIRTUAL_NODE_COUNTS.map(() => "-------:").join("|")}|`);
  for (const brokers of BROKER_COUNTS) {
    const row = VIRTUAL_NODE_COUNTS.map((v) => pad(cells.get(`${v}/${brokers}`)!.movedMean.toFixed(3), 6));
    console.log(`| ${pad(`${brokers}→${brokers + 1}`, 7)} | ${(1 / (brokers + 1)).toFixed(3)} | ${row.join(" | ")} |`);
  }
}

function printCost(): void {
  const brokers = brokerNames(12, 0);
  console.log(`\nCost with 12 brokers (build the ring; place ${PARTITIONS} partitions on it)\n`);
  console.log("| virtual nodes | ring points | build µs | place 1,000 µs | bounded 1,000 µs |");
  console.log("|--------------:|------------:|---------:|---------------:|-----------------:|");
  for (const virtualNodes of VIRTUAL_NODE_COUNTS) {
    const rounds = 50;
    let ring = buildRing(brokers, virtualNodes);
    let started = performance.now();
    for (let round = 0; round < rounds; round++) ring = buildRing(brokers, virtualNodes);
    const buildMicros = ((performance.now() - started) * 1000) / rounds;
    started = performance.now();
    for (let round = 0; round < rounds; round++) placeKeys(ring, keys, 1);
    const placeMicros = ((performance.now() - started) * 1000) / rounds;
    started = performance.now();
    for (let round = 0; round < rounds; round++) placeTopic(ring, "orders", PARTITIONS, 1);
    const boundedMicros = ((performance.now() - started) * 1000) / rounds;
    console.log(
      `| ${pad(String(virtualNodes), 13)} | ${pad(String(ring.points.length), 11)} | ${pad(buildMicros.toFixed(0), 8)} | ${pad(placeMicros.toFixed(0), 14)} | ${pad(boundedMicros.toFixed(0), 16)} |`,
    );
  }
  console.log(`\nDEFAULT_VIRTUAL_NODES = ${DEFAULT_VIRTUAL_NODES}`);
  const many = brokerNames(1_024, 0);
  let started = performance.now();
  const ring = buildRing(many, DEFAULT_VIRTUAL_NODES);
  const buildMs = performance.now() - started;
  started = performance.now();
  placeTopic(ring, "orders", 10_000, 3);
  console.log(`At the limits (1,024 brokers, 10,000 partitions, R = 3): build ${buildMs.toFixed(0)} ms, bounded placement ${(performance.now() - started).toFixed(0)} ms`);
}

// ---------------------------------------------------------------- plain ring vs bounded loads

const PARTITION_COUNTS = [1, 6, 12, 100, 1_000] as const;
const REPLICATION_FACTORS = [1, 3] as const;
const EPSILONS = [0, 0.1, 0.25, 0.5, 1] as const;
const TOPIC = "orders";

/** Rings by (broker count, naming) at the default virtual-node count, each built once. */
const rings = new Map<string, { ring: HashRing; brokers: string[] }>();
function ringOf(brokerCount: number, naming: number): { ring: HashRing; brokers: string[] } {
  const key = `${brokerCount}/${naming}`;
  let entry = rings.get(key);
  if (entry === undefined) {
    const brokers = brokerNames(brokerCount, naming);
    entry = { ring: buildRing(brokers, DEFAULT_VIRTUAL_NODES), brokers };
    rings.set(key, entry);
  }
  return entry;
}

function plainTopic(ring: HashRing, partitions: number, replicationFactor: number): NodeId[][] {
  return Array.from({ length: partitions }, (_, partition) => placePartition(ring, TOPIC, partition, replicationFactor));
}

function asPlacement(lists: readonly (readonly NodeId[])[]): Placement {
  return new Map(lists.map((replicas, partition) => [partitionKey(TOPIC, partition), replicas]));
}

function leadersOf(lists: readonly (readonly NodeId[])[]): Placement {
  return asPlacement(lists.map((replicas) => replicas.slice(0, 1)));
}

/** A running mean and maximum over namings (or broker counts). */
class Tally {
  private sum = 0;
  private count = 0;
  worst = 0;
  add(value: number): void {
    this.sum += value;
    this.count++;
    this.worst = Math.max(this.worst, value);
  }
  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }
  text(digits = 2): string {
    return `${this.mean.toFixed(digits)} (${this.worst.toFixed(digits)})`;
  }
}

function tallyOf(tallies: Map<string, Tally>, key: string): Tally {
  let tally = tallies.get(key);
  if (tally === undefined) {
    tally = new Tally();
    tallies.set(key, tally);
  }
  return tally;
}

type Kind = "plain" | "bounded";
const placers: Record<Kind, (ring: HashRing, partitions: number, replicationFactor: number) => NodeId[][]> = {
  plain: plainTopic,
  bounded: (ring, partitions, replicationFactor) => placeTopic(ring, TOPIC, partitions, replicationFactor),
};

/** Balance tallies keyed "R/partitions/brokers/kind/replicas|leaders". */
function measureSpread(): Map<string, Tally> {
  const tallies = new Map<string, Tally>();
  for (const replicationFactor of REPLICATION_FACTORS) {
    for (const partitions of PARTITION_COUNTS) {
      for (const brokerCount of BROKER_COUNTS) {
        for (let naming = 0; naming < NAMINGS; naming++) {
          const { ring, brokers } = ringOf(brokerCount, naming);
          for (const kind of ["plain", "bounded"] as const) {
            const lists = placers[kind](ring, partitions, replicationFactor);
            const key = `${replicationFactor}/${partitions}/${brokerCount}/${kind}`;
            tallyOf(tallies, `${key}/replicas`).add(maxOverMean(replicasPerBroker(asPlacement(lists), brokers)));
            tallyOf(tallies, `${key}/leaders`).add(maxOverMean(replicasPerBroker(leadersOf(lists), brokers)));
          }
        }
      }
    }
  }
  return tallies;
}

function printSpread(): void {
  const tallies = measureSpread();
  const header = `| brokers | ${PARTITION_COUNTS.map((p) => `${pad(`${p} plain`, 13)} | ${pad(`${p} bounded`, 13)}`).join(" | ")} |`;
  const rule = `|--------:|${PARTITION_COUNTS.map(() => "--------------:|--------------:").join("|")}|`;
  for (const replicationFactor of REPLICATION_FACTORS) {
    for (const what of ["replicas", "leaders"] as const) {
      // With one replica the leaders are the replicas.
      if (replicationFactor === 1 && what === "leaders") continue;
      console.log(`\nR = ${replicationFactor}: max/mean ${what} per broker, plain ring vs bounded (ε = ${PLACEMENT_EPSILON}), by partition count; mean (worst) over ${NAMINGS} namings\n`);
      console.log(header);
      console.log(rule);
      for (const brokers of BROKER_COUNTS) {
        const cells = PARTITION_COUNTS.flatMap((p) => (["plain", "bounded"] as const).map((kind) => pad(tallies.get(`${replicationFactor}/${p}/${brokers}/${kind}/${what}`)!.text(), 13)));
        console.log(`| ${pad(String(brokers), 7)} | ${cells.join(" | ")} |`);
      }
    }
  }
}

interface Movement {
  readonly replicaSets: Tally;
  readonly leaders: Tally;
}

/** Movement when broker n+1 joins, for one placer, one R and one partition count. */
function measureMovement(place: (ring: HashRing) => NodeId[][], brokerCount: number, namings: number): Movement {
  const movement = { replicaSets: new Tally(), leaders: new Tally() };
  for (let naming = 0; naming < namings; naming++) {
    const before = place(ringOf(brokerCount, naming).ring);
    const after = place(ringOf(brokerCount + 1, naming).ring);
    movement.replicaSets.add(movedSetFraction(asPlacement(before), asPlacement(after)));
    movement.leaders.add(movedFraction(leadersOf(before), leadersOf(after)));
  }
  return movement;
}

function printMovement(): void {
  const partitions = PARTITIONS;
  for (const replicationFactor of REPLICATION_FACTORS) {
    console.log(`\nR = ${replicationFactor}, ${partitions} partitions: fraction whose replica set changes (and whose leader changes) when broker n+1 joins; mean over ${NAMINGS} namings\n`);
    console.log("| brokers | ideal | plain set | bounded set | plain leader | bounded leader |");
    console.log("|--------:|------:|----------:|------------:|-------------:|---------------:|");
    for (const brokers of BROKER_COUNTS) {
      const plain = measureMovement((ring) => plainTopic(ring, partitions, replicationFactor), brokers, NAMINGS);
      const bounded = measureMovement((ring) => placeTopic(ring, TOPIC, partitions, replicationFactor), brokers, NAMINGS);
      const ideal = Math.min(1, replicationFactor / (brokers + 1));
      console.log(
        `| ${pad(`${brokers}→${brokers + 1}`, 7)} | ${ideal.toFixed(3)} | ${pad(plain.replicaSets.mean.toFixed(3), 9)} | ${pad(bounded.replicaSets.mean.toFixed(3), 11)} | ${pad(plain.leaders.mean.toFixed(3), 12)} | ${pad(bounded.leaders.mean.toFixed(3), 14)} |`,
      );
    }
  }
}

/** Namings per cell in the ε table: fewer than NAMINGS, as it places 2 × 5 ε × 2 R × 10 broker counts topics per naming. */
const EPSILON_NAMINGS = 10;
const EPSILON_PARTITION_COUNTS = [12, 100, 1_000] as const;

/** One row of the ε table: bounded placement of `partitions` with `epsilon`, over every broker count. */
function epsilonRow(epsilon: number, partitions: number): string[] {
  const cells: string[] = [];
  for (const replicationFactor of REPLICATION_FACTORS) {
    const replicas = new Tally();
    const leaders = new Tally();
    const moved = new Tally();
    const place = (ring: HashRing): NodeId[][] => placeTopic(ring, TOPIC, partitions, replicationFactor, { epsilon });
    for (const brokerCount of BROKER_COUNTS) {
      for (let naming = 0; naming < EPSILON_NAMINGS; naming++) {
        const { ring, brokers } = ringOf(brokerCount, naming);
        const lists = place(ring);
        replicas.add(maxOverMean(replicasPerBroker(asPlacement(lists), brokers)));
        leaders.add(maxOverMean(replicasPerBroker(leadersOf(lists), brokers)));
      }
      const movement = measureMovement(place, brokerCount, EPSILON_NAMINGS);
      moved.add(movement.replicaSets.mean / Math.min(1, replicationFactor / (brokerCount + 1)));
    }
    cells.push(pad(replicas.text(), 21));
    if (replicationFactor === 3) cells.push(pad(leaders.text(), 20));
    cells.push(pad(moved.text(), 15));
  }
  return cells;
}

function printEpsilons(): void {
  console.log(`\nChoosing ε: bounded placement over n = ${BROKER_COUNTS[0]}..${BROKER_COUNTS[BROKER_COUNTS.length - 1]} brokers, ${EPSILON_NAMINGS} namings each (the plain ring is ε = ∞);`);
  console.log("max/mean is mean (worst) over all of them; moved/ideal is the replica-set fraction over its ideal R/(n+1), mean (worst) over the broker counts\n");
  console.log("| partitions |    ε | R=1 replicas max/mean | R=1 moved/ideal | R=3 replicas max/mean | R=3 leaders max/mean | R=3 moved/ideal |");
  console.log("|-----------:|-----:|----------------------:|----------------:|----------------------:|---------------------:|----------------:|");
  for (const partitions of EPSILON_PARTITION_COUNTS) {
    for (const epsilon of [...EPSILONS, Number.POSITIVE_INFINITY]) {
      const label = Number.isFinite(epsilon) ? epsilon.toFixed(2) : "   ∞";
      console.log(`| ${pad(String(partitions), 10)} | ${pad(label, 4)} | ${epsilonRow(epsilon, partitions).join(" | ")} |`);
    }
  }
}

const benchStarted = performance.now();
printTables();
printCost();
printSpread();
printMovement();
printEpsilons();
console.log(`\n(bench took ${((performance.now() - benchStarted) / 1000).toFixed(1)} s)`);
