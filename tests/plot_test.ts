import assert from "node:assert/strict";
import {
  figureHtml,
  figureText,
  normalizeLayout,
  PLOT_CLASS,
  PLOTLY_LOADER_ATTRIBUTE,
  PLOTLY_READY_EVENT,
  plotlyLoaderHtml,
  PlotlySession,
  plotlySource,
  TRUST_NOTE,
} from "../lib/notebook/plot.ts";
import { trainingCurveFigures } from "../lib/notebook/curves.ts";
import { smoothCurve } from "../lib/notebook/smooth_curve.ts";
import { niceTicks, svgChart } from "../lib/notebook/svg_chart.ts";

const fakeSession = () => new PlotlySession(() => "/*BASIC-BUNDLE*/ window.Plotly = { build: 'basic' };");
const line = { data: [{ x: [1, 2, 3], y: [0.5, 0.7, 0.8], mode: "lines", name: "acc" }] };
const heatmap = { data: [{ type: "heatmap", z: [[1, 2], [3, 4]] }] };

function html(bundle: Record<string, unknown>): string {
  return String(bundle["text/html"]);
}

Deno.test("the first figure of a session carries plotly.js, the second does not", () => {
  const session = fakeSession();
  assert.equal(session.sent, false);
  const first = session.figureBundle(line);
  const second = session.figureBundle(line);
  assert.ok(html(first).includes("/*BASIC-BUNDLE*/"));
  assert.ok(html(first).includes(`${PLOTLY_LOADER_ATTRIBUTE}="basic"`));
  assert.ok(!html(second).includes("/*BASIC-BUNDLE*/"));
  assert.ok(!html(second).includes(PLOTLY_LOADER_ATTRIBUTE));
  assert.equal(session.sent, true);
  for (const bundle of [first, second]) {
    const fig = bundle["application/vnd.plotly.v1+json"] as { data: unknown[]; config: Record<string, unknown> };
    assert.deepEqual(fig.data, line.data, "the plotly mimetype carries the figure for native renderers");
    assert.equal(fig.config.displaylogo, false);
    assert.match(String(bundle["image/svg+xml"]), /^<svg /, "a static SVG fallback");
    assert.equal(bundle["text/plain"], "Figure: acc 0.8000 (last of 3)");
    assert.ok(html(bundle).includes(`class="${PLOT_CLASS}"`));
  }
});

Deno.test("loaderBundle always carries plotly.js, and the figures after it do not", () => {
  const session = fakeSession();
  session.figureBundle(line);
  assert.ok(html(session.loaderBundle()).includes("/*BASIC-BUNDLE*/"));
  assert.ok(!html(session.figureBundle(line)).includes("/*BASIC-BUNDLE*/"));
  assert.ok(plotlyLoaderHtml("x").includes("if (w.Plotly) return;"), "a page loads plotly.js once");
});

Deno.test("the loader hides AMD define while the bundle runs, restores it, and announces Plotly", () => {
  const umd = `(function (root, factory) {
    if (typeof define === "function" && define.amd) define([], factory);
    else root.Plotly = factory();
  })(this, function () { return { version: "fake" }; });`;
  const page = plotlyLoaderHtml(umd);
  assert.ok(page.indexOf("w.define = undefined;") < page.indexOf(umd), "define is hidden before the bundle");
  assert.match(page, /finally \{\s*w\.define = amd;/);
  const script = page.replace(/^<script[^>]*>/, "").replace(/<\/script>$/, "");
  // deno-lint-ignore no-explicit-any -- the page globals the chart script sets
  const g = globalThis as Record<string, any>;
  let defineCalls = 0;
  const define = Object.assign(() => defineCalls++, { amd: {} });
  let announced = 0;
  const listener = () => announced++;
  g.window = globalThis;
  g.define = define;
  addEventListener(PLOTLY_READY_EVENT, listener);
  try {
    (0, eval)(script);
    assert.equal(defineCalls, 0, "the bundle did not register itself with require.js");
    assert.deepEqual(g.Plotly, { version: "fake" }, "window.Plotly is set");
    assert.equal(g.define, define, "define is restored");
    assert.equal(announced, 1);
    (0, eval)(script);
    assert.equal(announced, 1, "a second copy does nothing");
  } finally {
    removeEventListener(PLOTLY_READY_EVENT, listener);
    for (const k of ["window", "define", "Plotly"]) delete g[k];
  }
});

Deno.test("the real plotly.js bundle is read from node_modules and embeds safely in a <script>", () => {
  const source = plotlySource();
  assert.match(source.slice(0, 200), /plotly\.js \(basic - minified\) v3\./);
  const page = plotlyLoaderHtml(source);
  assert.equal(page.match(/<\/script/gi)?.length, 1, "only the closing tag ends the script");
  assert.ok(!page.slice(0, -9).includes("<!--"));
  assert.ok(plotlyLoaderHtml("a = '</script><!--';").includes("a = '<\\/script><\\!--';"));
});

Deno.test("figure HTML escapes data so no string can end its script, and keeps a static picture", () => {
  const evil = { data: [{ y: [1, 2], name: "</script><script>alert(1)</script>" }], layout: { title: "a & b" } };
  const page = figureHtml(evil, { id: "fig-1" });
  assert.equal(page.match(/<\/script>/g)?.length, 1);
  assert.ok(page.includes("<\\/script><script>alert(1)<\\/script>"), "the data's </script> is escaped");
  assert.ok(page.includes('<div id="fig-1" class="ch5-plot" style='));
  assert.match(page, /<img class="ch5-plot-fallback" alt="a &amp; b" [^>]*src="data:image\/svg\+xml;base64,/);
  // Where plotly.js cannot run (an untrusted notebook keeps only the picture), one line says why.
  assert.ok(page.includes(`>${TRUST_NOTE}</div>`));
  assert.equal(TRUST_NOTE, "interactive chart: trust the notebook (File → Trust Notebook)");
  assert.ok(page.includes(`addEventListener("${PLOTLY_READY_EVENT}"`), "waits for plotly.js when it is not there yet");
  assert.ok(!figureHtml(heatmap, { id: "h" }).includes("ch5-plot-fallback"), "no fallback where SVG cannot draw it");
});

Deno.test("trainingCurveFigures: the book's two figures, training as blue dots, validation as a blue line", () => {
  const history = {
    acc: [0.6, 0.7, 0.8],
    val_acc: [0.6, 0.65, 0.66],
    loss: [0.7, 0.5, 0.4],
    val_loss: [0.7, 0.6, 0.62],
  };
  const [acc, loss] = trainingCurveFigures(history);
  assert.equal((acc.layout?.title as { text: string }).text, "Training and validation accuracy");
  assert.equal((loss.layout?.title as { text: string }).text, "Training and validation loss");
  for (const [fig, key] of [[acc, "acc"], [loss, "loss"]] as const) {
    const [train, val] = fig.data;
    assert.deepEqual([train.mode, train.marker?.color, train.name], ["markers", "blue", `Training ${key}`]);
    // A line with dots: after one epoch (one point) the validation curve shows too.
    assert.deepEqual([val.mode, val.line?.color, val.name], ["lines+markers", "blue", `Validation ${key}`]);
    assert.deepEqual(train.x, [1, 2, 3]);
    assert.deepEqual(train.y, history[key]);
    assert.deepEqual(val.y, history[`val_${key}`]);
  }
  const long = Array.from({ length: 100 }, (_, i) => 0.5 + i / 400);
  const [longAcc] = trainingCurveFigures({ acc: long, val_acc: long });
  assert.equal(longAcc.data[1].mode, "lines", "over 100 epochs the book's plain line");
});

Deno.test("trainingCurveFigures reads fit's History, accuracy keys, and leaves out absent curves", () => {
  const [acc, loss] = trainingCurveFigures({
    epoch: [4, 5],
    history: { accuracy: [0.5, 0.6], val_accuracy: [0.4, 0.5], loss: [1, 0.9] },
  });
  assert.deepEqual(acc.data[0].x, [5, 6], "epochs are 1-based, as the book plots them");
  assert.deepEqual(acc.data[1].y, [0.4, 0.5]);
  assert.equal(loss.data.length, 1, "no val_loss: only the training dots");
  assert.equal(trainingCurveFigures({ loss: [1, 0.5] }).length, 1);
  assert.throws(() => trainingCurveFigures({ mae: [1] }), /no accuracy or loss curves \(keys: mae\)/);
  const [titled] = trainingCurveFigures({ acc: [0.5] }, { title: "Small convnet" });
  assert.equal((titled.layout?.title as { text: string }).text, "Small convnet: training and validation accuracy");
});

Deno.test("smoothing is the book's exponential moving average, with 'Smoothed' labels", () => {
  assert.deepEqual(smoothCurve([1, 0, 0], 0.5), [1, 0.5, 0.25]);
  const points = [0.5, 0.9, 0.7, 0.8];
  const expected = [0.5];
  for (const p of points.slice(1)) expected.push(expected[expected.length - 1] * 0.8 + p * 0.2);
  const smoothed = smoothCurve(points);
  smoothed.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-12));
  assert.deepEqual(smoothCurve([]), []);
  const [acc] = trainingCurveFigures({ acc: points, val_acc: points }, { smooth: 0.8 });
  assert.deepEqual(acc.data.map((t) => t.name), ["Smoothed training acc", "Smoothed validation acc"]);
  assert.deepEqual(acc.data[0].y, smoothed);
});

Deno.test("svgChart draws lines and markers with round ticks; refuses what it cannot draw", () => {
  const [fig] = trainingCurveFigures({ acc: [0.5, 0.6, 0.7], val_acc: [0.5, 0.55, 0.6] });
  const svg = svgChart(fig)!;
  assert.equal(svg.match(/<circle /g)?.length, 3 + 3 + 2, "three dots per curve and one per legend entry");
  assert.equal(svg.match(/<polyline /g)?.length, 1);
  assert.ok(svg.includes("Training and validation accuracy"));
  assert.equal(svgChart(heatmap), undefined);
  assert.equal(svgChart({ data: [{ type: "bar", x: ["a"], y: [1] }] }), undefined);
  assert.deepEqual(niceTicks(0.13, 0.92), [0.2, 0.4, 0.6, 0.8]);
  const [short] = trainingCurveFigures({ acc: [0.5, 0.6] });
  assert.equal(short.layout?.xaxis?.dtick, 1, "a short run gets whole-epoch ticks");
  const ticks = [...svgChart(short)!.matchAll(/text-anchor="middle" fill="#444">([^<]*)</g)].map((m) => m[1]);
  assert.deepEqual(ticks, ["1", "2"]);
  assert.deepEqual(niceTicks(1, 10, 5), [2, 4, 6, 8, 10]);
});

Deno.test("figureText", () => {
  assert.equal(
    figureText({ data: [{ name: "loss", y: [0.9, 0.4] }], layout: { title: "Loss" } }),
    "Loss: loss 0.4000 (last of 2)",
  );
});

Deno.test("string titles become plotly 3's {text} titles, for the figure and its axes", () => {
  // The figure's title sits left, above the plot, clear of plotly's modebar (top right).
  const title = { x: 0, xref: "paper", xanchor: "left", y: 1, yref: "paper", yanchor: "bottom" };
  assert.deepEqual(normalizeLayout({ title: "Loss", xaxis: { title: "Epochs" }, yaxis2: { title: { text: "b" } } }), {
    title: { ...title, text: "Loss" },
    margin: { t: 80 },
    xaxis: { title: { text: "Epochs" } },
    yaxis2: { title: { text: "b" } },
  });
  assert.deepEqual(normalizeLayout(undefined), {});
  const bundle = fakeSession().figureBundle({ data: [{ y: [1] }], layout: { title: "T" } });
  assert.deepEqual((bundle["application/vnd.plotly.v1+json"] as { layout: unknown }).layout, {
    title: { ...title, text: "T" },
    margin: { t: 80 },
  });
});
