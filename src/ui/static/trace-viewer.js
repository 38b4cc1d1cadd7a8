// The trace viewer: draws a zhumq-trace document (docs/simulator.md, "Trace files") as a
// timeline with one lane per node. It loads trace.json from the server that serves it
// (`zhumq sim --open`), or a file the reader opens.
//
// Drawing is virtualised: every list is sorted by time once at load, and a frame binary-searches
// the visible window and draws only that. When a window holds more marks than a frame can draw
// legibly, marks are merged per pixel column and lane (one tick stands for many), so a trace of
// 100,000 events costs a frame about as much as one of 1,000. Names from the trace reach the
// page through textContent only, never as markup.
//
// For tests and the curious, `window.__viewer` exposes the state and a few actions; the anomaly
// list items and the canvas carry data- attributes with the same facts.
"use strict";

(() => {
  const FORMAT = "zhumq-trace";
  const VERSION = 1;
  const LABEL_WIDTH_PX = 120;
  const AXIS_HEIGHT_PX = 26;
  const LANE_HEIGHT_MIN_PX = 34;
  /** Above this many visible messages, arrows give way to per-pixel ticks. */
  const ARROWS_MAX = 3_000;
  /** Above this many visible marks of one list, marks merge per pixel column and lane. */
  const MARKS_MAX = 4_000;
  const PICK_RADIUS_PX = 7;
  const ZOOM_STEP = 1.25;
  const ANOMALY_SPAN_MIN_MS = 20;

  const $ = (id) => document.getElementById(id);
  const canvas = $("timeline");
  const context = canvas.getContext("2d");

  const state = {
    trace: null,
    lanes: new Map(),
    messages: [],
    points: [],
    operations: [],
    spans: [],
    maxLatencyMs: 0,
    startMs: 0,
    endMs: 1,
    view: { startMs: 0, endMs: 1 },
    selectedAnomaly: -1,
    highlighted: new Set(),
    picked: null,
    drawn: 0,
    drawMs: 0,
  };

  // ------------------------------------------------------------------ loading

  function load(trace) {
    if (trace === null || typeof trace !== "object" || trace.format !== FORMAT) throw new Error(`not a ${FORMAT} document`);
    if (trace.version !== VERSION) throw new Error(`trace format version ${trace.version}; this viewer reads version ${VERSION}`);
    const byTime = (a, b) => a.atMs - b.atMs;
    state.trace = trace;
    state.lanes = new Map(trace.nodes.map((node, index) => [node, index]));
    const laneOf = (node) => {
      if (!state.lanes.has(node)) state.lanes.set(node, state.lanes.size);
      return state.lanes.get(node);
    };
    state.messages = [];
    state.points = [];
    for (const event of trace.events) {
      if (event.kind === "message.delivered" || event.kind === "message.dropped") {
        state.messages.push({ ...event, fromLane: laneOf(event.from), toLane: laneOf(event.to) });
      } else if (event.kind !== "fault") {
        state.points.push({ ...event, lane: laneOf(event.node) });
      } else {
        for (const node of event.nodes) laneOf(node);
        state.points.push({ ...event, lane: event.nodes.length === 0 ? -1 : laneOf(event.nodes[0]) });
      }
    }
    state.messages.sort(byTime);
    state.points.sort(byTime);
    state.operations = trace.operations.map((operation, index) => ({ ...operation, index, lane: laneOf(operation.process) })).sort(byTime);
    state.maxLatencyMs = state.messages.reduce((max, message) => Math.max(max, message.atMs - message.sentAtMs), 0);
    state.spans = buildSpans(trace.events, laneOf);
    state.startMs = 0;
    state.endMs = Math.max(1, trace.run.virtualMs, lastTime(state.messages), lastTime(state.points), lastTime(state.operations));
    state.view = { startMs: state.startMs, endMs: state.endMs };
    state.selectedAnomaly = -1;
    state.highlighted = new Set();
    state.picked = null;
    showRun(trace);
    showAnomalies(trace);
    $("details").textContent = "Click an anomaly, or a mark on the timeline.";
    document.body.dataset.loaded = "true";
    requestDraw();
  }

  function lastTime(list) {
    return list.length === 0 ? 0 : list[list.length - 1].atMs;
  }

  /** Fault spans: down (crash → start), paused (pause → resume), cut (partition/isolate → heal), clog. */
  function buildSpans(events, laneOf) {
    const spans = [];
    const open = new Map();
    const cuts = [];
    const disks = new Map();
    const close = (key, atMs) => {
      const span = open.get(key);
      if (span === undefined) return;
      span.endMs = atMs;
      open.delete(key);
    };
    for (const event of events) {
      if (event.kind === "node.crashed") {
        close(`paused:${event.node}`, event.atMs);
        if (!open.has(`down:${event.node}`)) {
          const span = { kind: "down", lane: laneOf(event.node), startMs: event.atMs, endMs: Infinity, label: `${event.node} down` };
          spans.push(span);
          open.set(`down:${event.node}`, span);
        }
      } else if (event.kind === "node.started") close(`down:${event.node}`, event.atMs);
      else if (event.kind === "node.paused") {
        const span = { kind: "paused", lane: laneOf(event.node), startMs: event.atMs, endMs: Infinity, label: `${event.node} paused` };
        spans.push(span);
        open.set(`paused:${event.node}`, span);
      } else if (event.kind === "node.resumed") close(`paused:${event.node}`, event.atMs);
      else if (event.kind === "fault") addFaultSpans(event, spans, cuts, disks, laneOf);
    }
    return spans;
  }

  function addFaultSpans(event, spans, cuts, disks, laneOf) {
    if (event.skipped) return;
    if (event.fault === "partition" || event.fault === "isolate") {
      for (const node of event.nodes) {
        const span = { kind: "cut", lane: laneOf(node), startMs: event.atMs, endMs: Infinity, label: event.action };
        spans.push(span);
        cuts.push(span);
      }
    } else if (event.fault === "clog") {
      for (const node of event.nodes) {
        const span = { kind: "clog", lane: laneOf(node), startMs: event.atMs, endMs: event.atMs + (event.durationMs ?? 0), label: event.action };
        spans.push(span);
        cuts.push(span);
      }
    } else if (event.fault === "disk-full") {
      const span = { kind: "disk", lane: laneOf(event.nodes[0]), startMs: event.atMs, endMs: Infinity, label: event.action };
      spans.push(span);
      disks.set(event.nodes[0], span);
    } else if (event.fault === "disk-free") {
      const span = disks.get(event.nodes[0]);
      if (span !== undefined) span.endMs = event.atMs;
      disks.delete(event.nodes[0]);
    } else if (event.fault === "heal" || event.fault === "heal-all") {
      for (const span of cuts.splice(0)) span.endMs = Math.min(span.endMs, event.atMs);
      if (event.fault === "heal-all") {
        for (const span of disks.values()) span.endMs = event.atMs;
        disks.clear();
      }
    }
  }

  function showRun(trace) {
    const run = trace.run;
    const truncated = trace.truncated ? `; TRUNCATED: ${trace.truncated.events} events and ${trace.truncated.operations} operations from ${trace.truncated.fromMs} ms not kept` : "";
    $("run").textContent = `${run.workload} seed ${run.seed}: ${run.ok ? "PASS" : "FAIL"} · ${(run.virtualMs / 1000).toFixed(3)} s virtual · ${trace.events.length} events · ${trace.operations.length} client operations · hash ${run.traceHash} · replay: ${run.replay}${truncated}`;
    $("run").dataset.ok = String(run.ok);
  }

  function showAnomalies(trace) {
    const list = $("anomalies");
    list.replaceChildren();
    $("anomaly-count").textContent = `(${trace.anomalies.length})`;
    $("verdict").textContent = trace.anomalies.length === 0 ? "None: the checker passed this run." : "Click one to jump to its operations.";
    trace.anomalies.forEach((anomaly, index) => {
      const item = document.createElement("li");
      item.dataset.index = String(index);
      item.dataset.kind = anomaly.kind;
      item.dataset.selected = "false";
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = anomaly.kind;
      item.append(kind, `: ${anomaly.detail}`);
      item.addEventListener("click", () => selectAnomaly(index));
      list.append(item);
    });
  }

  // ------------------------------------------------------------------ anomalies

  function selectAnomaly(index) {
    const anomaly = state.trace?.anomalies[index];
    if (anomaly === undefined) return;
    state.selectedAnomaly = index;
    state.highlighted = new Set(anomaly.operations);
    for (const item of $("anomalies").children) item.dataset.selected = String(Number(item.dataset.index) === index);
    $("anomalies").children[index]?.scrollIntoView({ block: "nearest" });
    const operations = anomaly.operations.map((i) => state.trace.operations[i]).filter((operation) => operation !== undefined);
    const times = operations.map((operation) => operation.atMs);
    if (times.length > 0) {
      const from = Math.min(...times);
      const to = Math.max(...times);
      const pad = Math.max(ANOMALY_SPAN_MIN_MS, (to - from) * 0.15);
      setView(from - pad, to + pad);
    }
    const lines = [`${anomaly.kind}`, anomaly.detail, "", `operations (${operations.length}):`, ...operations.map(describeOperation)];
    if (anomaly.evidence.length > 0) lines.push("", "other evidence:", ...anomaly.evidence.map((item) => JSON.stringify(item)));
    $("details").textContent = lines.join("\n");
    requestDraw();
  }

  function describeOperation(operation) {
    const { atMs, process, type, index: _index, lane: _lane, ...rest } = operation;
    return `${Number(atMs).toFixed(3)} ms  ${process}  ${type}  ${JSON.stringify(rest)}`;
  }

  // ------------------------------------------------------------------ view

  function setView(startMs, endMs) {
    const spanMs = Math.max(1e-3, endMs - startMs);
    state.view = { startMs, endMs: startMs + spanMs };
    requestDraw();
  }

  function zoomAt(factor, atMs) {
    const { startMs, endMs } = state.view;
    setView(atMs - (atMs - startMs) * factor, atMs + (endMs - atMs) * factor);
  }

  function pan(fraction) {
    const span = state.view.endMs - state.view.startMs;
    setView(state.view.startMs + span * fraction, state.view.endMs + span * fraction);
  }

  function geometry() {
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    const laneCount = Math.max(1, state.lanes.size);
    const laneHeight = Math.max(LANE_HEIGHT_MIN_PX, (height - AXIS_HEIGHT_PX) / laneCount);
    const plotWidth = Math.max(1, width - LABEL_WIDTH_PX);
    const { startMs, endMs } = state.view;
    const scale = plotWidth / (endMs - startMs);
    return {
      width,
      height,
      laneHeight,
      x: (ms) => LABEL_WIDTH_PX + (ms - startMs) * scale,
      ms: (x) => startMs + (x - LABEL_WIDTH_PX) / scale,
      laneTop: (lane) => AXIS_HEIGHT_PX + lane * laneHeight,
      laneMiddle: (lane) => AXIS_HEIGHT_PX + lane * laneHeight + laneHeight / 2,
    };
  }

  /** First index in a time-sorted list with atMs >= ms. */
  function lowerBound(list, ms) {
    let low = 0;
    let high = list.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (list[middle].atMs < ms) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  // ------------------------------------------------------------------ drawing

  let frameRequested = false;
  function requestDraw() {
    if (frameRequested) return;
    frameRequested = true;
    requestAnimationFrame(() => {
      frameRequested = false;
      draw();
    });
  }

  function draw() {
    const started = performance.now();
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    if (state.trace === null) return;
    const g = geometry();
    state.drawn = 0;
    drawLanes(g);
    context.save();
    context.beginPath();
    context.rect(LABEL_WIDTH_PX, 0, width - LABEL_WIDTH_PX, height);
    context.clip();
    drawSpans(g);
    drawAxis(g);
    drawMessages(g);
    drawPoints(g);
    drawOperations(g);
    drawHighlights(g);
    context.restore();
    state.drawMs = performance.now() - started;
    canvas.dataset.viewStartMs = state.view.startMs.toFixed(3);
    canvas.dataset.viewEndMs = state.view.endMs.toFixed(3);
    canvas.dataset.drawn = String(state.drawn);
    canvas.dataset.drawMs = state.drawMs.toFixed(1);
    canvas.dataset.highlighted = String(state.highlighted.size);
    $("status").textContent = `view ${state.view.startMs.toFixed(3)}–${state.view.endMs.toFixed(3)} ms · ${state.drawn} marks drawn in ${state.drawMs.toFixed(1)} ms`;
  }

  function drawLanes(g) {
    context.font = "12px system-ui, sans-serif";
    context.textBaseline = "middle";
    for (const [node, lane] of state.lanes) {
      const top = g.laneTop(lane);
      context.fillStyle = lane % 2 === 0 ? "#ffffff" : "#f1f3f8";
      context.fillRect(0, top, g.width, g.laneHeight);
      context.fillStyle = "#223";
      context.fillText(node, 8, top + g.laneHeight / 2, LABEL_WIDTH_PX - 12);
    }
    context.strokeStyle = "#c8cbd8";
    context.beginPath();
    context.moveTo(LABEL_WIDTH_PX + 0.5, 0);
    context.lineTo(LABEL_WIDTH_PX + 0.5, g.height);
    context.stroke();
  }

  function drawAxis(g) {
    const { startMs, endMs } = state.view;
    const step = niceStep((endMs - startMs) / 8);
    context.fillStyle = "#fafbfd";
    context.fillRect(LABEL_WIDTH_PX, 0, g.width, AXIS_HEIGHT_PX);
    context.strokeStyle = "rgba(0, 0, 40, 0.08)";
    context.fillStyle = "#556";
    context.textBaseline = "middle";
    const decimals = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step)));
    for (let tick = Math.ceil(startMs / step) * step; tick <= endMs; tick += step) {
      const x = Math.round(g.x(tick)) + 0.5;
      context.beginPath();
      context.moveTo(x, AXIS_HEIGHT_PX - 6);
      context.lineTo(x, g.height);
      context.stroke();
      context.fillText(`${tick.toFixed(decimals)} ms`, x + 3, AXIS_HEIGHT_PX / 2);
    }
  }

  function niceStep(rough) {
    const power = 10 ** Math.floor(Math.log10(Math.max(rough, 1e-6)));
    for (const multiple of [1, 2, 5, 10]) if (multiple * power >= rough) return multiple * power;
    return 10 * power;
  }

  const SPAN_COLOURS = { down: "rgba(198, 40, 40, 0.30)", paused: "rgba(240, 160, 0, 0.35)", cut: "rgba(120, 60, 200, 0.22)", clog: "rgba(0, 140, 140, 0.28)", disk: "rgba(130, 90, 40, 0.28)" };

  function drawSpans(g) {
    const { startMs, endMs } = state.view;
    for (const span of state.spans) {
      if (span.endMs < startMs || span.startMs > endMs) continue;
      const from = Math.max(g.x(span.startMs), LABEL_WIDTH_PX);
      const to = Math.min(g.x(Math.min(span.endMs, state.endMs)), g.width);
      const top = g.laneTop(span.lane);
      const inset = span.kind === "cut" || span.kind === "clog" || span.kind === "disk" ? g.laneHeight * 0.55 : 0;
      context.fillStyle = SPAN_COLOURS[span.kind];
      context.fillRect(from, top + inset, Math.max(2, to - from), g.laneHeight - inset);
      state.drawn++;
    }
  }

  function drawMessages(g) {
    const { startMs, endMs } = state.view;
    const first = lowerBound(state.messages, startMs);
    const last = lowerBound(state.messages, endMs + state.maxLatencyMs + 1e-9);
    let visible = 0;
    for (let i = first; i < last; i++) if (state.messages[i].sentAtMs <= endMs) visible++;
    if (visible <= ARROWS_MAX) return drawArrows(g, first, last);
    // Too many to read as arrows: one tick per pixel column and receiving lane, in one path.
    const columns = Math.ceil(g.width) + 2;
    const seen = new Uint8Array((state.lanes.size + 1) * columns);
    context.fillStyle = "rgba(84, 112, 160, 0.55)";
    context.beginPath();
    for (let i = first; i < state.messages.length && state.messages[i].atMs <= endMs; i++) {
      const message = state.messages[i];
      const x = Math.round(g.x(message.atMs));
      const key = message.toLane * columns + x;
      if (x < 0 || x >= columns || seen[key] === 1) continue;
      seen[key] = 1;
      context.rect(x, g.laneMiddle(message.toLane) - 5, 1, 10);
      state.drawn++;
    }
    context.fill();
  }

  function drawArrows(g, first, last) {
    const endMs = state.view.endMs;
    context.lineWidth = 1;
    for (let i = first; i < last; i++) {
      const message = state.messages[i];
      if (message.sentAtMs > endMs) continue;
      const dropped = message.kind === "message.dropped";
      const x0 = g.x(message.sentAtMs);
      const y0 = g.laneMiddle(message.fromLane);
      const x1 = g.x(message.atMs);
      const y1 = g.laneMiddle(message.toLane);
      context.strokeStyle = dropped ? "rgba(198, 40, 40, 0.8)" : message.duplicate ? "rgba(200, 0, 160, 0.9)" : "rgba(84, 112, 160, 0.55)";
      context.lineWidth = message.duplicate ? 2 : 1;
      context.beginPath();
      context.moveTo(x0, y0);
      context.lineTo(x1, y1);
      context.stroke();
      if (dropped) drawCross(x1, y1, 3);
      else drawHead(x0, y0, x1, y1);
      if (message.duplicate) {
        context.fillStyle = "rgba(200, 0, 160, 0.9)";
        context.fillText("dup", x1 + 3, y1 - 6);
      }
      state.drawn++;
    }
    context.lineWidth = 1;
  }

  function drawHead(x0, y0, x1, y1) {
    const angle = Math.atan2(y1 - y0, x1 - x0);
    context.beginPath();
    context.moveTo(x1, y1);
    context.lineTo(x1 - 6 * Math.cos(angle - 0.4), y1 - 6 * Math.sin(angle - 0.4));
    context.moveTo(x1, y1);
    context.lineTo(x1 - 6 * Math.cos(angle + 0.4), y1 - 6 * Math.sin(angle + 0.4));
    context.stroke();
  }

  function drawCross(x, y, size) {
    context.beginPath();
    context.moveTo(x - size, y - size);
    context.lineTo(x + size, y + size);
    context.moveTo(x + size, y - size);
    context.lineTo(x - size, y + size);
    context.stroke();
  }

  /** Small numbers for the kinds and types of marks, so a merge key is one number, not a string. */
  const markCodes = new Map();
  function markCode(name) {
    let code = markCodes.get(name);
    if (code === undefined) markCodes.set(name, (code = markCodes.size));
    return code;
  }

  /** Calls `draw` for the visible items of a sorted list; when there are too many, once per (lane, pixel column, kind). */
  function forVisible(g, list, nameOf, draw) {
    const { startMs, endMs } = state.view;
    const first = lowerBound(list, startMs);
    const last = lowerBound(list, endMs + 1e-9);
    const seen = last - first > MARKS_MAX ? new Set() : null;
    for (let i = first; i < last; i++) {
      const item = list[i];
      if (seen !== null) {
        const key = ((item.lane + 1) * 65_536 + Math.round(g.x(item.atMs))) * 64 + markCode(nameOf(item));
        if (seen.has(key)) continue;
        seen.add(key);
      }
      draw(item);
      state.drawn++;
    }
  }

  /** Per lane, where the last fault label drawn in this frame ends. */
  const labelEnds = new Map();

  function drawPoints(g) {
    labelEnds.clear();
    forVisible(g, state.points, (item) => item.kind, (point) => drawPoint(g, point));
  }

  function drawPoint(g, point) {
    const x = g.x(point.atMs);
    if (point.kind === "fault") {
      drawFault(g, point, x);
    } else if (point.lane >= 0) {
      const top = g.laneTop(point.lane);
      if (point.kind === "timer.fired") {
        context.fillStyle = "#99a";
        context.fillRect(x - 1, top + g.laneHeight - 5, 2, 3);
      } else if (point.kind === "store.committed") {
        const from = g.x(point.atMs - point.persistMs - point.syncMs);
        context.fillStyle = point.synced ? "#2e9d4a" : "#8cc99b";
        context.fillRect(from, top + g.laneHeight - 9, Math.max(2, x - from), 3);
      } else {
        context.fillStyle = point.kind === "node.crashed" ? "#c62828" : point.kind === "node.started" ? "#1a7f37" : "#d08000";
        context.fillRect(x - 1, top, 3, g.laneHeight);
      }
    }
  }

  function drawFault(g, fault, x) {
    const lanes = fault.nodes.length === 0 ? [...state.lanes.values()] : fault.nodes.map((node) => state.lanes.get(node));
    context.fillStyle = fault.skipped ? "#999" : "#6a2fb0";
    for (const lane of lanes) {
      const top = g.laneTop(lane);
      context.beginPath();
      context.moveTo(x - 5, top);
      context.lineTo(x + 5, top);
      context.lineTo(x, top + 7);
      context.fill();
    }
    // One label per lane at a time: a label that would run into the previous one is left out
    // (the Selected panel shows any fault that is clicked).
    if (lanes.length > 0 && fault.nodes.length > 0) {
      const lane = lanes[0];
      const width = Math.min(220, context.measureText(fault.action).width);
      if (x + 6 >= (labelEnds.get(lane) ?? -Infinity)) {
        context.fillText(fault.action, x + 6, g.laneTop(lane) + 8, 220);
        labelEnds.set(lane, x + 12 + width);
      }
    }
  }

  const OPERATION_COLOURS = { "send.invoke": "#555", "send.ok": "#1a7f37", "send.fail": "#c62828", "send.unknown": "#d07000", poll: "#1d5fbf", "consumer.reset": "#7b3fb5" };

  function drawOperations(g) {
    forVisible(g, state.operations, (item) => item.type, (operation) => drawOperation(g, operation));
  }

  function drawOperation(g, operation) {
    const x = g.x(operation.atMs);
    const y = g.laneMiddle(operation.lane);
    context.fillStyle = OPERATION_COLOURS[operation.type] ?? "#333";
    context.strokeStyle = context.fillStyle;
    switch (operation.type) {
      case "send.invoke":
        context.fillRect(x - 0.5, y - 9, 1.5, 8);
        return;
      case "send.ok":
        context.beginPath();
        context.arc(x, y + 4, 3, 0, Math.PI * 2);
        context.fill();
        return;
      case "send.fail":
        context.lineWidth = 1.5;
        drawCross(x, y + 4, 3);
        context.lineWidth = 1;
        return;
      case "send.unknown":
        context.fillText("?", x - 3, y + 4);
        return;
      case "poll":
        context.fillRect(x - 2, y + g.laneHeight / 4 - 2, 4, 4);
        return;
      default:
        context.fillRect(x - 1, y - g.laneHeight / 2, 2, g.laneHeight);
    }
  }

  function drawHighlights(g) {
    if (state.highlighted.size === 0 && state.picked === null) return;
    context.lineWidth = 2.5;
    for (const index of state.highlighted) {
      const operation = state.trace.operations[index];
      if (operation === undefined) continue;
      const lane = state.lanes.get(operation.process);
      const x = g.x(operation.atMs);
      context.strokeStyle = "rgba(230, 170, 0, 0.5)";
      context.setLineDash([4, 4]);
      context.beginPath();
      context.moveTo(x, AXIS_HEIGHT_PX);
      context.lineTo(x, g.height);
      context.stroke();
      context.setLineDash([]);
      context.strokeStyle = "#e0a000";
      context.beginPath();
      context.arc(x, g.laneMiddle(lane), 9, 0, Math.PI * 2);
      context.stroke();
    }
    if (state.picked !== null) {
      context.strokeStyle = "#111";
      context.beginPath();
      context.arc(g.x(state.picked.atMs), g.laneMiddle(state.picked.lane), 7, 0, Math.PI * 2);
      context.stroke();
    }
    context.lineWidth = 1;
  }

  // ------------------------------------------------------------------ picking and input

  /** The operation or event nearest to (x, y) on that lane, within PICK_RADIUS_PX. */
  function pick(x, y) {
    const g = geometry();
    const lane = Math.floor((y - AXIS_HEIGHT_PX) / g.laneHeight);
    const fromMs = g.ms(x - PICK_RADIUS_PX);
    const toMs = g.ms(x + PICK_RADIUS_PX);
    let best = null;
    let bestDistance = Infinity;
    const consider = (list, laneOf) => {
      for (let i = lowerBound(list, fromMs); i < list.length && list[i].atMs <= toMs; i++) {
        if (laneOf(list[i]) !== lane) continue;
        const distance = Math.abs(g.x(list[i].atMs) - x);
        if (distance < bestDistance) {
          best = list[i];
          bestDistance = distance;
        }
      }
    };
    consider(state.operations, (item) => item.lane);
    consider(state.messages, (item) => item.toLane);
    consider(state.points, (item) => item.lane);
    return best === null ? null : { item: best, lane };
  }

  function showPicked(found) {
    if (found === null) return;
    state.picked = { atMs: found.item.atMs, lane: found.lane };
    const { lane: _lane, fromLane: _from, toLane: _to, index: _index, ...shown } = found.item;
    $("details").textContent = JSON.stringify(shown, null, 2);
    requestDraw();
  }

  let drag = null;
  canvas.addEventListener("mousedown", (event) => {
    drag = { x: event.offsetX, startMs: state.view.startMs, endMs: state.view.endMs, moved: false };
    canvas.classList.add("dragging");
    canvas.focus();
  });
  window.addEventListener("mousemove", (event) => {
    if (drag === null) return;
    const dx = event.clientX - canvas.getBoundingClientRect().left - drag.x;
    if (Math.abs(dx) > 2) drag.moved = true;
    const msPerPx = (drag.endMs - drag.startMs) / Math.max(1, canvas.clientWidth - LABEL_WIDTH_PX);
    setView(drag.startMs - dx * msPerPx, drag.endMs - dx * msPerPx);
  });
  window.addEventListener("mouseup", (event) => {
    if (drag === null) return;
    const clicked = !drag.moved;
    drag = null;
    canvas.classList.remove("dragging");
    if (clicked && event.target === canvas) showPicked(pick(event.offsetX, event.offsetY));
  });
  canvas.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      const g = geometry();
      zoomAt(ZOOM_STEP ** (Math.sign(event.deltaY) * Math.min(3, Math.abs(event.deltaY) / 100 + 0.01)), g.ms(Math.max(event.offsetX, LABEL_WIDTH_PX)));
    },
    { passive: false },
  );
  window.addEventListener("keydown", (event) => {
    if (state.trace === null || event.target instanceof HTMLInputElement) return;
    const middle = (state.view.startMs + state.view.endMs) / 2;
    const actions = {
      ArrowLeft: () => pan(-0.2),
      ArrowRight: () => pan(0.2),
      "+": () => zoomAt(1 / ZOOM_STEP, middle),
      "=": () => zoomAt(1 / ZOOM_STEP, middle),
      "-": () => zoomAt(ZOOM_STEP, middle),
      0: () => setView(state.startMs, state.endMs),
      Home: () => setView(state.startMs, state.endMs),
      n: () => selectAnomaly(Math.min(state.trace.anomalies.length - 1, state.selectedAnomaly + 1)),
      p: () => selectAnomaly(Math.max(0, state.selectedAnomaly - 1)),
    };
    const action = actions[event.key];
    if (action === undefined) return;
    event.preventDefault();
    action();
  });
  window.addEventListener("resize", requestDraw);

  $("file").addEventListener("change", () => {
    const file = $("file").files?.[0];
    if (file === undefined) return;
    file.text().then(
      (text) => loadText(text, file.name),
      (error) => fail(`could not read ${file.name}: ${error}`),
    );
  });

  function loadText(text, name) {
    try {
      load(JSON.parse(text));
    } catch (error) {
      fail(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  function fail(message) {
    $("run").textContent = message;
    $("run").dataset.ok = "false";
    document.body.dataset.loaded = "error";
  }

  window.__viewer = {
    state,
    load,
    loadText,
    selectAnomaly,
    setView,
    draw,
  };

  fetch("trace.json", { cache: "no-store" })
    .then(async (response) => {
      if (response.status === 404) {
        $("run").textContent = "No trace served: open a trace file (zhumq sim --seed N --trace FILE writes one).";
        return;
      }
      if (!response.ok) throw new Error(`trace.json: HTTP ${response.status}`);
      loadText(await response.text(), "trace.json");
    })
    .catch((error) => fail(String(error)));
})();
