// The dashboard page: polls /api/cluster (the server's latest snapshot of the cluster, taken
// through the admin client) and draws it. Produce rates are computed here, from the end offsets
// of two successive snapshots, per partition (a partition missing from either is left out of
// that step rather than counted as a jump); consume rates likewise from each group's committed
// offsets (so they move in steps of the consumers' commit interval). The charts are uPlot; everything else is plain DOM,
// written with textContent only, so no name from the cluster can become markup.
"use strict";

(() => {
  const HISTORY_POINTS_MAX = 120;
  const SMALL_CHART_TOPICS_MAX = 20;
  const FETCH_TIMEOUT_MS = 5_000;

  /** Rate samples: times in seconds (uPlot's x unit), the totals, and one series per topic and per group. */
  const history = { times: [], total: [], byTopic: new Map(), consumed: [], byGroup: new Map() };
  let previous = null;
  let pollMs = 1_000;
  let totalChart = null;
  let consumeChart = null;
  const topicCharts = new Map();
  const groupCharts = new Map();

  const $ = (id) => document.getElementById(id);

  function element(tag, text, attributes = {}) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    return node;
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString([], { hour12: false });
  }

  function formatRate(rate) {
    if (rate === null || rate === undefined || !Number.isFinite(rate)) return "–";
    if (rate === 0) return "0";
    return rate >= 100 ? Math.round(rate).toLocaleString("en-US") : rate.toFixed(1);
  }

  // ------------------------------------------------------------------ rates

  /** Sum over partitions of (end offset now − end offset before) / seconds between the two polls. */
  function ratesBetween(before, now) {
    const seconds = (now.polledAt - before.polledAt) / 1_000;
    const ends = new Map();
    for (const topic of before.topics) {
      for (const partition of topic.partitions) ends.set(`${topic.topic}/${partition.partition}`, partition.endOffset);
    }
    const byTopic = new Map();
    let total = 0;
    for (const topic of now.topics) {
      let produced = 0;
      for (const partition of topic.partitions) {
        const earlier = ends.get(`${topic.topic}/${partition.partition}`);
        if (typeof earlier !== "number" || typeof partition.endOffset !== "number") continue;
        // A smaller end offset is a topic deleted and created again: nothing to count.
        produced += Math.max(0, partition.endOffset - earlier);
      }
      const rate = seconds > 0 ? produced / seconds : 0;
      byTopic.set(topic.topic, rate);
      total += rate;
    }
    return { total, byTopic };
  }

  /** The same for groups: committed offsets moved forward per second (a reset backwards counts 0). */
  function consumeRatesBetween(before, now) {
    const seconds = (now.polledAt - before.polledAt) / 1_000;
    const committed = new Map();
    for (const group of before.groups ?? []) {
      for (const partition of group.partitions) committed.set(`${group.groupId}\n${partition.topic}/${partition.partition}`, partition.committedOffset);
    }
    const byGroup = new Map();
    let total = 0;
    for (const group of now.groups ?? []) {
      let consumed = 0;
      for (const partition of group.partitions) {
        const earlier = committed.get(`${group.groupId}\n${partition.topic}/${partition.partition}`);
        if (typeof earlier !== "number") continue;
        consumed += Math.max(0, partition.committedOffset - earlier);
      }
      const rate = seconds > 0 ? consumed / seconds : 0;
      byGroup.set(group.groupId, rate);
      total += rate;
    }
    return { total, byGroup };
  }

  /** Append one sample per series of `byKey` (null where a key has none), dropping series that are gone. */
  function pushSeries(seriesByKey, rates, index) {
    for (const key of rates.keys()) {
      if (!seriesByKey.has(key)) seriesByKey.set(key, new Array(index).fill(null));
    }
    for (const [key, series] of seriesByKey) series.push(rates.has(key) ? rates.get(key) : null);
  }

  function dropEmptySeries(seriesByKey, rates) {
    for (const [key, series] of seriesByKey) {
      if (!rates.has(key) && series.every((value) => value === null)) seriesByKey.delete(key);
    }
  }

  function record(snapshot) {
    if (snapshot.polledAt === null || (previous !== null && snapshot.polledAt === previous.polledAt)) return false;
    if (previous !== null && snapshot.polledAt > previous.polledAt) {
      const rates = ratesBetween(previous, snapshot);
      const consumed = consumeRatesBetween(previous, snapshot);
      const index = history.times.length;
      history.times.push(snapshot.polledAt / 1_000);
      history.total.push(rates.total);
      history.consumed.push(consumed.total);
      pushSeries(history.byTopic, rates.byTopic, index);
      pushSeries(history.byGroup, consumed.byGroup, index);
      if (history.times.length > HISTORY_POINTS_MAX) {
        history.times.shift();
        history.total.shift();
        history.consumed.shift();
        for (const series of history.byTopic.values()) series.shift();
        for (const series of history.byGroup.values()) series.shift();
      }
      dropEmptySeries(history.byTopic, rates.byTopic);
      dropEmptySeries(history.byGroup, consumed.byGroup);
    }
    previous = snapshot;
    return true;
  }

  function windowSeconds() {
    return (HISTORY_POINTS_MAX * pollMs) / 1_000;
  }

  function latest(series) {
    return series.length === 0 ? null : series[series.length - 1];
  }

  // ------------------------------------------------------------------ charts

  function makeChart(container, height, label, small) {
    if (typeof window.uPlot !== "function") {
      container.textContent = "(charts unavailable: uPlot did not load)";
      return null;
    }
    const width = Math.max(200, container.clientWidth || 600);
    return new window.uPlot(
      {
        width,
        height,
        legend: { show: !small },
        cursor: { show: !small },
        // A fixed window ending at the newest sample: one or two samples would otherwise span years.
        scales: { x: { time: true, range: (_u, _min, max) => [max - windowSeconds(), max + windowSeconds() / 50] }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] } },
        axes: small ? [{ show: false }, { size: 50, ticks: { show: false }, splits: (_u, _axis, _min, max) => [0, max], values: (_u, splits) => splits.map((value) => formatRate(value)) }] : [{}, { size: 60 }],
        series: [{}, { label, stroke: "#3867d6", fill: "rgba(56, 103, 214, 0.15)", width: 1.5, spanGaps: false }],
      },
      [[], []],
      container,
    );
  }

  function drawCharts() {
    const span = windowSeconds() >= 120 ? `last ${Math.round(windowSeconds() / 60)} minutes` : `last ${Math.round(windowSeconds())} s`;
    $("window").textContent = span;
    $("consume-window").textContent = span;
    if (totalChart === null) totalChart = makeChart($("total-chart"), 180, "all topics, msg/s", false);
    totalChart?.setData([history.times, history.total]);
    if (consumeChart === null) consumeChart = makeChart($("consume-chart"), 140, "all groups, msg/s consumed", false);
    consumeChart?.setData([history.times, history.consumed]);
    for (const [charts, seriesByKey] of [[topicCharts, history.byTopic], [groupCharts, history.byGroup]]) {
      for (const [key, chart] of charts) {
        const series = seriesByKey.get(key);
        chart?.setData([history.times, series ?? history.times.map(() => null)]);
      }
    }
  }

  // ------------------------------------------------------------------ tables

  function renderStatus(snapshot, serverProblem) {
    const status = $("status");
    const every = `retrying every ${Math.round(pollMs / 100) / 10} s`;
    if (serverProblem !== null) {
      status.dataset.state = "server-unreachable";
      status.textContent = `The dashboard server is not answering (${serverProblem}); ${every}.`;
    } else if (snapshot.error !== null && snapshot.polledAt === null) {
      status.dataset.state = "cluster-unreachable";
      status.textContent = `Cannot reach the cluster at ${snapshot.bootstrap}: ${snapshot.error.code}: ${snapshot.error.message} — ${every}.`;
    } else if (snapshot.error !== null) {
      status.dataset.state = "stale";
      status.textContent = `Lost the cluster at ${snapshot.bootstrap} (${snapshot.error.code}: ${snapshot.error.message}); showing what it said at ${clock(snapshot.polledAt)} — ${every}.`;
    } else if (snapshot.polledAt === null) {
      status.dataset.state = "loading";
      status.textContent = `Connecting to ${snapshot.bootstrap}…`;
    } else {
      status.dataset.state = "ok";
      status.textContent = `Connected to ${snapshot.bootstrap} · updated ${clock(snapshot.polledAt)}`;
    }
  }

  function renderBrokers(snapshot) {
    const body = $("brokers").tBodies[0];
    body.replaceChildren(
      ...snapshot.brokers.map((broker) => {
        const row = element("tr", null, { "data-broker": broker.id, "data-alive": broker.alive });
        row.append(element("td", broker.id), element("td", broker.alive ? "up" : "down", { class: broker.alive ? "up" : "down" }));
        row.append(element("td", broker.address ?? "—"), element("td", broker.partitionsLed, { class: "num" }));
        return row;
      }),
    );
    if (snapshot.brokers.length === 0) {
      const row = element("tr");
      row.append(element("td", snapshot.polledAt === null ? "not known yet" : "no brokers registered yet", { colspan: 4, class: "hint" }));
      body.append(row);
    }
  }

  function damagedText(ranges) {
    return ranges.length === 0 ? "—" : ranges.map((range) => `[${range.fromOffset}, ${range.toOffset})`).join(" ");
  }

  function partitionRow(topic, partition, alive) {
    const row = element("tr", null, { "data-partition": `${topic}/${partition.partition}` });
    const leaderDown = partition.leader === null || alive.get(partition.leader) === false;
    row.append(
      element("td", partition.partition, { class: "num" }),
      element("td", partition.leader ?? "none", { class: leaderDown ? "down" : "" }),
      element("td", partition.leaderEpoch, { class: "num" }),
      element("td", partition.replicas.map((replica) => (alive.get(replica) === false ? `${replica} (down)` : replica)).join(", ")),
      element("td", partition.logStartOffset ?? "?", { class: "num", "data-field": "log-start" }),
      element("td", partition.endOffset ?? "?", { class: "num", "data-field": "end-offset", title: partition.offsetsError ?? "" }),
      element("td", damagedText(partition.damaged), { class: partition.damaged.length > 0 ? "damaged" : "", "data-field": "damaged" }),
    );
    return row;
  }

  function topicSection(topic) {
    const existing = document.querySelector(`section.topic[data-topic="${CSS.escape(topic.topic)}"]`);
    if (existing !== null) return existing;
    const section = element("section", null, { class: "topic", "data-topic": topic.topic });
    const head = element("div", null, { class: "topic-head" });
    head.append(element("h3", topic.topic), element("span", "", { class: "hint topic-meta" }), element("span", "–", { class: "topic-rate", "data-rate": "" }));
    const chart = element("div", null, { class: "chart small" });
    const table = element("table");
    const header = element("tr");
    for (const [title, numeric] of [["partition", true], ["leader", false], ["epoch", true], ["replicas", false], ["log start", true], ["end offset", true], ["damaged offsets", false]]) {
      header.append(element("th", title, numeric ? { class: "num" } : {}));
    }
    table.append(element("thead"), element("tbody"));
    table.tHead.append(header);
    section.append(head, chart, table);
    $("topics").append(section);
    if (topicCharts.size < SMALL_CHART_TOPICS_MAX) topicCharts.set(topic.topic, makeChart(chart, 80, `${topic.topic}, msg/s`, true));
    return section;
  }

  function renderTopics(snapshot) {
    const alive = new Map(snapshot.brokers.map((broker) => [broker.id, broker.alive]));
    const names = new Set(snapshot.topics.map((topic) => topic.topic));
    for (const section of [...document.querySelectorAll("section.topic")]) {
      const name = section.dataset.topic;
      if (names.has(name)) continue;
      topicCharts.get(name)?.destroy();
      topicCharts.delete(name);
      section.remove();
    }
    for (const topic of snapshot.topics) {
      const section = topicSection(topic);
      const partitions = topic.partitions.length;
      section.querySelector(".topic-meta").textContent = `${partitions} partition${partitions === 1 ? "" : "s"} · replication ${topic.replicationFactor} (${topic.replicationMode})`;
      const rate = latest(history.byTopic.get(topic.topic) ?? []);
      const rateNode = section.querySelector(".topic-rate");
      rateNode.textContent = `${formatRate(rate)} msg/s`;
      rateNode.dataset.rate = rate === null ? "" : String(rate);
      section.querySelector("tbody").replaceChildren(...topic.partitions.map((partition) => partitionRow(topic.topic, partition, alive)));
    }
    $("no-topics").hidden = snapshot.topics.length > 0 || snapshot.polledAt === null;
    const notPolled = $("topics-not-polled");
    notPolled.hidden = snapshot.topicsNotPolled === 0;
    notPolled.textContent = `${snapshot.topicsNotPolled} more topics are listed without offsets or rates (the dashboard asks for the first ${snapshot.topics.length - snapshot.topicsNotPolled} only).`;
  }

  // ------------------------------------------------------------------ groups

  function groupPartitionRow(groupId, partition) {
    const row = element("tr", null, { "data-group-partition": `${groupId}/${partition.topic}/${partition.partition}` });
    row.append(
      element("td", partition.topic),
      element("td", partition.partition, { class: "num" }),
      element("td", partition.committedOffset, { class: "num", "data-field": "committed" }),
      element("td", partition.endOffset ?? "?", { class: "num", "data-field": "end-offset" }),
      element("td", partition.lag ?? "?", { class: partition.lag !== null && partition.lag > 0 ? "num lagging" : "num", "data-field": "lag" }),
    );
    return row;
  }

  function groupSection(group) {
    const existing = document.querySelector(`section.group[data-group="${CSS.escape(group.groupId)}"]`);
    if (existing !== null) return existing;
    const section = element("section", null, { class: "group", "data-group": group.groupId });
    const head = element("div", null, { class: "topic-head" });
    head.append(element("h3", group.groupId), element("span", "", { class: "hint group-meta" }), element("span", "–", { class: "group-rate", "data-rate": "" }));
    const chart = element("div", null, { class: "chart small" });
    const table = element("table");
    const header = element("tr");
    for (const [title, numeric] of [["topic", false], ["partition", true], ["committed offset", true], ["end offset", true], ["lag", true]]) {
      header.append(element("th", title, numeric ? { class: "num" } : {}));
    }
    table.append(element("thead"), element("tbody"));
    table.tHead.append(header);
    section.append(head, chart, table);
    $("groups").append(section);
    if (groupCharts.size < SMALL_CHART_TOPICS_MAX) groupCharts.set(group.groupId, makeChart(chart, 80, `${group.groupId}, msg/s consumed`, true));
    return section;
  }

  function renderGroups(snapshot) {
    const groups = snapshot.groups ?? [];
    const names = new Set(groups.map((group) => group.groupId));
    for (const section of [...document.querySelectorAll("section.group")]) {
      const name = section.dataset.group;
      if (names.has(name)) continue;
      groupCharts.get(name)?.destroy();
      groupCharts.delete(name);
      section.remove();
    }
    for (const group of groups) {
      const section = groupSection(group);
      const members = `${group.members} member${group.members === 1 ? "" : "s"}`;
      const lag = group.lag === null ? "lag unknown" : `lag ${group.lag.toLocaleString("en-US")}`;
      const meta = section.querySelector(".group-meta");
      meta.textContent = `${group.state} · ${members} · ${lag}${group.offsetsError === null ? "" : ` · offsets: ${group.offsetsError}`}`;
      meta.dataset.lag = group.lag === null ? "" : String(group.lag);
      const rate = latest(history.byGroup.get(group.groupId) ?? []);
      const rateNode = section.querySelector(".group-rate");
      rateNode.textContent = `${formatRate(rate)} msg/s consumed`;
      rateNode.dataset.rate = rate === null ? "" : String(rate);
      const body = section.querySelector("tbody");
      body.replaceChildren(...group.partitions.map((partition) => groupPartitionRow(group.groupId, partition)));
      if (group.partitions.length === 0) {
        const row = element("tr");
        row.append(element("td", "no offsets committed yet", { colspan: 5, class: "hint" }));
        body.append(row);
      }
    }
    $("no-groups").hidden = groups.length > 0 || snapshot.polledAt === null || (snapshot.groupsError ?? null) !== null;
    const note = $("groups-note");
    const notes = [];
    if ((snapshot.groupsError ?? null) !== null) notes.push(`Cannot list the consumer groups: ${snapshot.groupsError}`);
    if ((snapshot.groupsNotPolled ?? 0) > 0) notes.push(`${snapshot.groupsNotPolled} more groups are listed without offsets, lag or rates (the dashboard asks for the first ${groups.length - snapshot.groupsNotPolled} only).`);
    note.hidden = notes.length === 0;
    note.textContent = notes.join(" ");
  }

  function render(snapshot) {
    renderStatus(snapshot, null);
    renderBrokers(snapshot);
    renderTopics(snapshot);
    renderGroups(snapshot);
    const total = latest(history.total);
    $("total-rate").textContent = formatRate(total);
    $("total-rate").dataset.value = total === null ? "" : String(total);
    $("total-rate").dataset.samples = String(history.times.length);
    const consumed = latest(history.consumed);
    $("total-consume-rate").textContent = formatRate(consumed);
    $("total-consume-rate").dataset.value = consumed === null ? "" : String(consumed);
    drawCharts();
  }

  // ------------------------------------------------------------------ polling

  async function poll() {
    let snapshot;
    try {
      const response = await fetch("/api/cluster", { cache: "no-store", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      snapshot = await response.json();
    } catch (error) {
      renderStatus(null, error instanceof Error ? error.message : String(error));
      return;
    }
    pollMs = snapshot.pollIntervalMs;
    record(snapshot);
    render(snapshot);
  }

  async function loop() {
    for (;;) {
      const began = Date.now();
      try {
        await poll();
      } catch (error) {
        // A bug in drawing must not stop the polling; show it and carry on.
        renderStatus(null, `page error: ${error instanceof Error ? error.message : String(error)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(100, began + pollMs - Date.now())));
    }
  }

  window.addEventListener("resize", () => {
    const width = $("total-chart").clientWidth;
    if (totalChart && width > 0) totalChart.setSize({ width, height: 180 });
    const consumeWidth = $("consume-chart").clientWidth;
    if (consumeChart && consumeWidth > 0) consumeChart.setSize({ width: consumeWidth, height: 140 });
  });

  void loop();
})();
