// Small live line charts for the demo pages' stats (bitrate, fps, upload time, latency,
// spend): the last N values of one number on a <canvas>, scaled from 0 to the largest value
// shown, with that scale written in the corner.
//
// Hand-written rather than a charting package: the pages are plain ES modules served as
// they are (no bundler, nothing to install for them), a sparkline is ~60 lines of canvas
// calls, and the packages that do it (uPlot, Chart.js) bring axes, legends and zoom the
// pages do not use, at 40–200 KB beside an SDK whose download size the README states.

/** One chart on `canvas`. `format(v)` writes the scale's top value (e.g. `1.5 Mbit/s`). */
export class Sparkline {
  constructor(canvas, { points = 90, format = (v) => String(Math.round(v)), color = '#2e7d32' } = {}) {
    this.canvas = canvas;
    this.points = points;
    this.format = format;
    this.color = color;
    this.values = [];
  }

  /** Adds a value (non-finite values are skipped) and redraws. */
  push(value) {
    if (!Number.isFinite(value)) return;
    this.values.push(value);
    if (this.values.length > this.points) this.values.shift();
    this.draw();
  }

  draw() {
    const { canvas, values } = this;
    // Draw at the screen's pixel density, at whatever size CSS gives the canvas.
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, width, height);
    canvas.dataset.points = String(values.length);
    if (!values.length) return;
    const top = Math.max(...values) * 1.1 || 1;
    const pad = 2 * ratio;
    // The values shown span the width (until `points` of them have come, the time scale
    // stretches: a chart is readable from its second point on).
    const x = (i) => pad + ((width - 2 * pad) * i) / Math.max(1, values.length - 1);
    const y = (v) => height - pad - ((height - 2 * pad) * v) / top;
    ctx.beginPath();
    values.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
    ctx.strokeStyle = this.color;
    ctx.lineWidth = 1.5 * ratio;
    ctx.stroke();
    // The area under the line, lightly, so a flat line at 0 still reads as a chart.
    ctx.lineTo(x(values.length - 1), height - pad);
    ctx.lineTo(x(0), height - pad);
    ctx.closePath();
    ctx.globalAlpha = 0.15;
    ctx.fillStyle = this.color;
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.fillStyle = '#888';
    ctx.font = `${10 * ratio}px system-ui, sans-serif`;
    ctx.textBaseline = 'top';
    ctx.fillText(this.format(top), pad, pad);
    canvas.dataset.max = String(top);
  }
}
