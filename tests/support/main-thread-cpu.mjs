// The CPU time of the tasks a page's main thread runs, from Chromium's own trace (the
// DevTools protocol's Tracing domain; every complete trace event carries its thread time,
// `tdur`, beside its wall time, `dur`).
//
// Why CPU time: a test that holds the SDK to "no script runs 50 ms or more at a time" must
// not fail because a loaded 2-core machine took the CPU away from the page in the middle of
// a short script. Wall-clock measures (long tasks, long animation frames) grow with the
// load: the same 60 ms busy loop shows 60 ms of wall time and 26 to 45 ms of CPU time when a
// second process shares the core. CPU time is what the task itself cost, which is what a
// page author's main thread pays on an idle machine.

/**
 * Starts tracing the browser. Resolves to `{ stop() }`; `stop()` resolves to the top-level
 * tasks of the main thread of the renderer that runs scripts from `origin`, each
 * `{ wallMs, cpuMs, what }` (`what`: the timers, events and functions it ran, with their
 * script's URL where the trace names one).
 */
export async function traceMainThread(page, origin) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Tracing.start', {
    // Not disabled-by-default-devtools.timeline: its per-task heap counters (DOM nodes,
    // listeners) cost the page's main thread tens of ms of CPU that it would not spend
    // untraced, and its RunTask events include them.
    categories: 'devtools.timeline,toplevel,v8.execute',
    transferMode: 'ReturnAsStream',
  });
  return {
    async stop() {
      const complete = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the trace did not complete in 30 s')), 30_000);
        cdp.once('Tracing.tracingComplete', (e) => { clearTimeout(timer); resolve(e); });
      });
      await cdp.send('Tracing.end');
      const { stream } = await complete;
      const chunks = [];
      for (;;) {
        const { data, eof, base64Encoded } = await cdp.send('IO.read', { handle: stream, size: 1 << 20 });
        chunks.push(base64Encoded ? Buffer.from(data, 'base64') : Buffer.from(data));
        if (eof) break;
      }
      await cdp.send('IO.close', { handle: stream });
      await cdp.detach().catch(() => {});
      const parsed = JSON.parse(Buffer.concat(chunks).toString());
      if (process.env.LIVECAST_TRACE_FILE) (await import('node:fs')).writeFileSync(process.env.LIVECAST_TRACE_FILE, JSON.stringify(parsed));
      return mainThreadTasks(parsed.traceEvents ?? parsed, origin);
    },
  };
}

/** The top-level main-thread tasks of the renderer that ran scripts from `origin`. */
export function mainThreadTasks(events, origin) {
  const mainThreads = new Set();
  for (const e of events) {
    if (e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain') mainThreads.add(`${e.pid}:${e.tid}`);
  }
  const key = (e) => `${e.pid}:${e.tid}`;
  const ours = new Set();
  for (const e of events) {
    const url = e.args?.data?.url ?? e.args?.data?.stackTrace?.[0]?.url;
    if (mainThreads.has(key(e)) && typeof url === 'string' && url.startsWith(origin)) ours.add(key(e));
  }
  const onMain = events.filter((e) => ours.has(key(e)) && e.ph === 'X' && typeof e.dur === 'number');
  const tasks = onMain.filter((e) => e.name === 'ThreadControllerImpl::RunTask').sort((a, b) => a.ts - b.ts);
  const inner = process.env.LIVECAST_TRACE_ALL ? onMain.filter((e) => e.name !== 'ThreadControllerImpl::RunTask') : onMain.filter((e) => ['TimerFire', 'EventDispatch', 'FunctionCall', 'RunMicrotasks', 'FireAnimationFrame', 'MajorGC', 'MinorGC', 'V8.GC_SCAVENGER', 'ParseHTML', 'Layout', 'UpdateLayoutTree', 'Paint'].includes(e.name));
  return tasks.map((t) => {
    const within = inner.filter((e) => e.ts >= t.ts && e.ts + e.dur <= t.ts + t.dur + 1);
    const what = within.map((e) => {
      const d = e.args?.data ?? {};
      const where = d.url ? ` ${d.url.slice(origin.length)}${d.functionName ? `:${d.functionName}` : ''}` : d.type ? ` ${d.type}` : '';
      return `${e.name}${where} ${(e.tdur ?? e.dur) / 1000 | 0} ms`;
    });
    return { wallMs: t.dur / 1000, cpuMs: (t.tdur ?? t.dur) / 1000, what: [...new Set(what)].slice(0, process.env.LIVECAST_TRACE_ALL ? 80 : 8) };
  });
}
