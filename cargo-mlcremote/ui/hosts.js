// One host's page: status, install/upgrade with live progress, logs, restart, stop,
// uninstall. Built once per host and kept, so an operation that ends while another tab
// shows reports into its own page, and finds it as it left it.
import { $, h, confirmIt } from "/assets/dom.js";

export class HostPage {
  /// `app` = { ops, setStatus(host, status), entry(host), openWorkspace(host), connect(host) }
  constructor(host, app) {
    this.host = host;
    this.app = app;
    this.steps = h("ul.plain.steps#steps");
    this.out = h("div#op-out");
    this.statusBox = h("dl.status#status");
    this.buttons = h("div.toolbar#host-actions");
    this.source = h("p.muted#source");
    this.el = h("div.host-page", {},
      h("section.card", {}, h("h2", {}, host), this.statusBox, this.buttons),
      h("section.card", {}, h("h2", {}, "Progress"), this.source, this.steps, this.out));
    // The folder the server's file API serves: the home folder unless said otherwise.
    this.root = h("input#root", { placeholder: "~ (home folder)", size: 24, spellcheck: "false",
      title: "The folder the workspace shows; ~/… or a path under the home folder, or absolute",
      oninput: () => { this.root.dataset.edited = "1"; } });
    this.rows = new Map();
    this.current = null;
    this.render();
  }

  note(text) { this.out.replaceChildren(h("p.muted", {}, text)); }

  row(step) {
    if (!this.rows.has(step)) {
      const li = h("li", { dataset: { step } }, h("span", {}, step), h("span.muted.ms"));
      this.rows.set(step, li);
      this.steps.append(li);
    }
    return this.rows.get(step);
  }

  /// Progress of an operation, as the library reports it.
  event(e) {
    if (e.event === "step_started") { this.current = e.step; this.row(e.step).className = "running"; }
    else if (e.event === "step_done") { const r = this.row(e.step); r.className = "done"; $(".ms", r).textContent = `${e.ms} ms`; }
    else if ((e.event === "upload" || e.event === "download") && e.total > 0) {
      let bar = $(`#${e.event}-bar`, this.out);
      if (!bar) { bar = h(`progress#${e.event}-bar`, { max: 100 }); this.out.append(h("p", {}, `${e.event} `, bar)); }
      bar.max = e.total || 1; bar.value = e.event === "upload" ? e.sent : e.done;
    } else if (e.event === "source") { this.source.textContent = `The server comes from ${e.text}.`; }
    else if (e.event === "note") { this.out.append(h("p.muted", {}, e.text)); }
  }

  failed(what, e) {
    if (this.current) this.row(this.current).className = "failed";
    this.out.replaceChildren(h("p.error#failure", {}, `${what} failed${this.current ? ` at ${this.current}` : ""}: ${e.message}`));
    if (e.detail) this.out.append(h("pre.log#failure-detail", {}, e.detail));
    this.current = null;
  }

  /// The status card and the actions, from what is known of the host.
  render() {
    const entry = this.app.entry(this.host);
    const s = entry.status;
    if (s) {
      const info = [
        ["installed", s.installed ? (s.binary_version || s.install?.version || "yes") : "no"],
        ["running", s.running ? `yes, pid ${s.pid}` : "no"],
        ["health", s.healthy ? "ok" : "—"],
        ["install dir", s.install_dir],
        ["files", s.install?.root || "home folder"],
      ];
      if (!this.root.dataset.edited) this.root.value = s.install?.root || "";
      this.statusBox.replaceChildren(...info.flatMap(([k, v]) => [h("dt", {}, k), h("dd", { dataset: { field: k } }, String(v))]));
    }
    const act = (label, fn, cls = "") => h(`button${cls}`, { onclick: fn, id: `act-${label.toLowerCase().replace(/\W+/g, "-")}` }, label);
    this.buttons.replaceChildren(
      h("label.root", {}, "Folder ", this.root),
      act(s?.installed ? "Upgrade" : "Install", () => this.deploy(!!s?.installed), ".primary"),
      act("Open workspace", () => this.app.openWorkspace(this.host)),
      act("Logs", () => this.logs()),
      act("Restart", () => this.lifecycle("restart")),
      act("Stop", () => this.lifecycle("stop")),
      act("Uninstall", async () => {
        if (await confirmIt(`Stop the server on ${this.host} and remove what deploy installed in ${s?.install_dir}?`, "Uninstall")) this.lifecycle("uninstall");
      }, ".danger"),
      act("Reconnect", () => this.app.connect(this.host)),
    );
    $("#act-open-workspace", this.buttons).disabled = !entry.healthy;
    for (const id of ["#act-logs", "#act-restart", "#act-stop", "#act-uninstall"]) $(id, this.buttons).disabled = !s?.installed;
  }

  async deploy(force) {
    const before = this.app.entry(this.host).status?.install?.root || "";
    const root = this.root.value.trim() || "~";
    // Another folder: the open files' names would point into it, so they are asked about.
    if (this.root.dataset.edited && root !== before && !await this.app.leaveWorkspace(this.host)) return;
    for (const btn of this.buttons.querySelectorAll("button")) btn.disabled = true;
    try {
      const { report, status } = await this.app.ops.run("deploy", this.host, { force, root }, { event: (e) => this.event(e) });
      delete this.root.dataset.edited;
      if ((status?.install?.root || "") !== before) this.app.rootChanged(this.host);
      this.app.setStatus(this.host, status);
      this.render();
      this.out.append(h("p#deploy-result", {}, `${report.result} mlcremote ${report.version || ""} (${report.target}) from ${report.artifact}`));
      return true;
    } catch (e) {
      this.failed("install", e);
      this.render();
      return false;
    }
  }

  async lifecycle(op) {
    if ((op === "stop" || op === "uninstall") && !await this.app.leaveWorkspace(this.host)) return;
    this.note(`${op}…`);
    try {
      const result = await this.app.ops.run(op, this.host, {}, { event: (e) => this.event(e) });
      this.app.setStatus(this.host, result.status || result);
      this.render();
      this.out.replaceChildren(h("p#op-result", {}, `${op}: done`));
    } catch (e) {
      this.failed(op, e);
    }
  }

  logs() {
    const pre = h("pre.log#logs");
    const follow = h("button#follow", {}, "Follow");
    this.out.replaceChildren(h("div.toolbar", {}, follow), pre);
    let following = null;
    const load = (f) => this.app.ops.run("logs", this.host, { lines: 100, follow: f }, {
      started: (id) => { if (f) following = id; },
      log: (t) => { pre.textContent += t; pre.scrollTop = pre.scrollHeight; },
    }).catch((e) => this.failed("logs", e));
    follow.onclick = () => {
      if (following) { this.app.ops.cancel(following); following = null; follow.textContent = "Follow"; return; }
      pre.textContent = "";
      follow.textContent = "Stop following";
      load(true);
    };
    load(false);
  }
}

