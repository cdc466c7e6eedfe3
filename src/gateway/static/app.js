// The command form, streamed: POST /exec asking for NDJSON events, stdout and stderr shown
// apart as they come. Without this script the form posts and the gateway streams a page.
"use strict";
(function () {
  const form = document.getElementById("exec-form");
  if (!form || !window.fetch || !window.TextDecoder || !window.ReadableStream) return;
  const live = document.getElementById("live");
  const pane = { stdout: document.getElementById("live-stdout"), stderr: document.getElementById("live-stderr") };
  const end = document.getElementById("live-end");
  const title = document.getElementById("live-title");
  const button = document.getElementById("run");
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const finish = (text, ok) => { end.textContent = text; end.className = "end " + (ok ? "ok" : "failed"); };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const decoders = { stdout: new TextDecoder("utf-8"), stderr: new TextDecoder("utf-8") };
    // One text node a pane, appended to (not rewritten) as output comes.
    const text = { stdout: document.createTextNode(""), stderr: document.createTextNode("") };
    for (const k of ["stdout", "stderr"]) pane[k].replaceChildren(text[k]);
    end.textContent = ""; end.className = "end";
    live.hidden = false;
    title.textContent = "Output (running)";
    button.disabled = true;
    let ended = false;
    try {
      const r = await fetch("/exec", { method: "POST", body: new URLSearchParams(new FormData(form)), headers: { Accept: "application/x-ndjson" } });
      if (r.redirected) { location.href = r.url; return; } // the session ended: the login form
      if (!(r.headers.get("content-type") || "").startsWith("application/x-ndjson")) {
        // A page: the command did not start (its reason is on it).
        const page = new DOMParser().parseFromString(await r.text(), "text/html");
        document.replaceChild(document.adoptNode(page.documentElement), document.documentElement);
        const m = document.getElementById("message");
        if (m) { m.tabIndex = -1; m.focus(); }
        return;
      }
      const reader = r.body.getReader(); const lines = new TextDecoder(); let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += lines.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
          if (!line) continue;
          const e = JSON.parse(line);
          if (e.event === "started") title.textContent = "Output on " + e.host + " as " + e.local_user;
          else if (e.event === "stdout" || e.event === "stderr") text[e.event].appendData(decoders[e.event].decode(bytes(e.data), { stream: true }));
          else if (e.event === "exit") { ended = true; finish("exit code " + e.code, e.code === 0); }
          else if (e.event === "signal") { ended = true; finish("killed by signal " + e.signal, false); }
          else if (e.event === "error") { ended = true; finish(e.message, false); }
        }
      }
      for (const k of ["stdout", "stderr"]) text[k].appendData(decoders[k].decode());
      if (!ended) finish("The answer ended before the command did (the gateway or the host went away).", false);
    } catch (e) {
      finish("The gateway could not be reached, or its answer broke off: " + e, false);
    } finally {
      button.disabled = false;
      if (title.textContent === "Output (running)") title.textContent = "Output";
    }
  });
})();
