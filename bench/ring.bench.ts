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
 * 3. Cost: time to build a 12-broker ring and to place 1,000 partitions on it.
 */
import { buildRing, DEFAULT_VIRTUAL_NODES, maxOverMean, movedFraction, placeKeys, replicasPerBroker, ringHash } from "../src/actors/coordinator/ring.ts";
import { partitionKey } from "../src/actors/shared/ids.ts";

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
  console.log("| virtual nodes | ring points | build µs | place 1,000 µs |");
  console.log("|--------------:|------------:|---------:|---------------:|");
  for (const virtualNodes of VIRTUAL_NODE_COUNTS) {
    const rounds = 50;
    let ring = buildRing(brokers, virtualNodes);
    let started = performance.now();
    for (let round = 0; round < rounds; round++) ring = buildRing(brokers, virtualNodes);
    const buildMicros = ((performance.now() - started) * 1000) / rounds;
    started = performance.now();
    for (let round = 0; round < rounds; round++) placeKeys(ring, keys, 1);
    const placeMicros = ((performance.now() - started) * 1000) / rounds;
    console.log(`| ${pad(String(virtualNodes), 13)} | ${pad(String(ring.points.length), 11)} | ${pad(buildMicros.toFixed(0), 8)} | ${pad(placeMicros.toFixed(0), 14)} |`);
  }
  console.log(`\nDEFAULT_VIRTUAL_NODES = ${DEFAULT_VIRTUAL_NODES}`);
}

printTables();
printCost();
