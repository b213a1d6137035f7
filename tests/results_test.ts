import assert from "node:assert/strict";
import { BOOK, bookText } from "../lib/data/book.ts";
import { comparisonRows, historyText, recordResults, summarizeHistory } from "../lib/training/results.ts";

const history = {
  epoch: [0, 1, 2, 3, 4, 5],
  seconds: [2, 2, 2, 2, 2, 2],
  history: {
    loss: [0.7, 0.6, 0.5, 0.4, 0.3, 0.2],
    acc: [0.5, 0.6, 0.7, 0.8, 0.9, 0.94],
    val_loss: [0.69, 0.62, 0.58, 0.6, 0.65, 0.7],
    val_acc: [0.5, 0.6, 0.7, 0.72, 0.71, 0.7],
  },
};

Deno.test("summarizeHistory: last training accuracy, mean of the last five val_acc, 1-based best epochs", () => {
  const s = summarizeHistory(history);
  assert.equal(s.epochs, 6);
  assert.equal(s.trainAcc, 0.94);
  assert.ok(Math.abs(s.valAcc! - (0.6 + 0.7 + 0.72 + 0.71 + 0.7) / 5) < 1e-12);
  assert.equal(s.bestValAcc, 0.72);
  assert.equal(s.bestValAccEpoch, 4);
  assert.equal(s.bestValLossEpoch, 3);
  assert.equal(
    historyText(history),
    "この実行 (6 エポック): 訓練精度は最後のエポックで 0.940、検証精度は最高 0.720 (エポック 4)、" +
      "最後の 5 エポックの平均 0.686。検証損失はエポック 3 で最小でした。",
  );
});

Deno.test("the book's numbers: printed values exact, rounded statements and ranges marked ≈", () => {
  assert.equal(bookText(BOOK["5.1"].numbers.testAcc), "0.9908");
  assert.equal(bookText(BOOK["5.2"].numbers["model1.valAcc"]), "≈0.70–0.72");
  assert.equal(bookText(BOOK["5.2"].numbers["model2.valAcc"]), "≈0.82");
  assert.equal(bookText(BOOK["5.2"].numbers["model1.bestValLossEpoch"]), "≈5");
  assert.equal(bookText(BOOK["5.3"].numbers["fineTuning.testAcc"]), "0.967");
  assert.equal(bookText(BOOK["5.4"].numbers["elephant.classIndex"]), "386");
});

Deno.test("comparisonRows: each book number beside this run's, and the settings that differ", () => {
  const rows = comparisonRows("5.2", { model1: { ...summarizeHistory(history), testAcc: 0.7 } });
  const row = (name: string) => rows.find((r) => r[""] === name);
  assert.equal(row("モデル1 / 検証精度(最後の5エポックの平均)")?.["この実行"], "0.69");
  assert.equal(row("モデル1 / 検証精度(最後の5エポックの平均)")?.["本"], "≈0.70–0.72");
  assert.equal(row("モデル1 / 検証損失が最小のエポック")?.["この実行"], "3");
  assert.equal(row("モデル2(データ拡張 + Dropout) / 検証精度(最後の5エポックの平均)")?.["この実行"], "—");
  assert.deepEqual(row("モデル1 / エポック数"), {
    "": "モデル1 / エポック数",
    "この実行": "6",
    "本": "30",
    "本の出典": "本の設定",
  });
});

Deno.test("recordResults writes data/results/<name>.json with the History summarized", async () => {
  const dir = await Deno.makeTempDir();
  Deno.env.set("CH5_DATA_DIR", dir);
  try {
    await recordResults("5.2", { model1: { history, testAcc: 0.7 } });
    const path = `${dir}/results/5.2.json`;
    const saved = JSON.parse(await Deno.readTextFile(path));
    assert.equal(saved.name, "5.2");
    assert.equal(saved.model1.epochs, 6);
    assert.equal(saved.model1.bestValLossEpoch, 3);
    assert.deepEqual(saved.model1.history.val_acc, history.history.val_acc);
    assert.equal(saved.model1.testAcc, 0.7);
    assert.ok("backend" in saved, "the backend it ran on (null when none started)");
  } finally {
    Deno.env.delete("CH5_DATA_DIR");
    await Deno.remove(dir, { recursive: true });
  }
});
