// The command form, streamed: POST /exec asking for NDJSON events, stdout and stderr shown
// apart as they come. Without this script the form posts and the gateway streams a page.
"use strict";
(function () {
  const form = document.getElementById("exec-form");
  if (!form || !window.fetch || !window.TextDecoder || !window.ReadableStream) return;
  const live = document.getElementById("live");
  const out = { stdout: document.getElementById("live-stdout"), stderr: document.getElementById("live-stderr") };
  const end = document.getElementById("live-end");
  const title = document.getElementById("live-title");
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const decoders = { stdout: new TextDecoder("utf-8"), stderr: new TextDecoder("utf-8") };
    out.stdout.textContent = ""; out.stderr.textContent = ""; end.textContent = ""; end.className = "end";
    live.hidden = false;
    title.textContent = "Output (running)";
    let r;
    try {
      r = await fetch("/exec", { method: "POST", body: new URLSearchParams(new FormData(form)), headers: { Accept: "application/x-ndjson" } });
    } catch (e) { end.textContent = "The gateway could not be reached: " + e; end.className = "end failed"; return; }
    const type = r.headers.get("content-type") || "";
    if (!type.startsWith("application/x-ndjson")) {
      // A page (the command did not start, or the session ended): shown as it came.
      const page = new DOMParser().parseFromString(await r.text(), "text/html");
      document.replaceChild(document.adoptNode(page.documentElement), document.documentElement);
      return;
    }
    const reader = r.body.getReader(); const text = new TextDecoder(); let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += text.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
        if (!line) continue;
        const e = JSON.parse(line);
        if (e.event === "started") title.textContent = "Output on " + e.host + " as " + e.local_user;
        else if (e.event === "stdout" || e.event === "stderr") out[e.event].textContent += decoders[e.event].decode(bytes(e.data), { stream: true });
        else if (e.event === "exit") { end.textContent = "exit code " + e.code; end.className = "end " + (e.code === 0 ? "ok" : "failed"); }
        else if (e.event === "signal") { end.textContent = "killed by signal " + e.signal; end.className = "end failed"; }
        else if (e.event === "error") { end.textContent = e.message; end.className = "end failed"; }
      }
    }
    for (const k of ["stdout", "stderr"]) out[k].textContent += decoders[k].decode();
  });
})();
