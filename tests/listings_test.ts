/**
 * Every listing of chapter 5 appears in its notebook as a code cell, under a
 * markdown heading that names its number, in the book's order.
 *
 * The numbers and captions are those of the book's first edition
 * (*Deep Learning with Python*, Manning 2017): 44 listings, 5.1–5.44.
 * A heading names one listing, as `### リスト 5.5 …` or `### … (listing 5.5)`;
 * the first code cell after it is the listing. `code` is a pattern that cell
 * must contain, so that a heading above the wrong cell fails.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../lib/io/profile.ts";

/** One listing of the book. */
export interface Listing {
  /** Its number, e.g. "5.7". */
  n: string;
  /** The book's caption. */
  title: string;
  /** What the listing's code cell must contain. */
  code: RegExp;
}

/** The chapter's listings, per notebook, in the book's order. */
export const LISTINGS: Readonly<Record<string, readonly Listing[]>> = {
  "5.1-introduction-to-convnets.ipynb": [
    { n: "5.1", title: "Instantiating a small convnet", code: /conv2d[\s\S]*maxPooling2d[\s\S]*conv2d/ },
    { n: "5.2", title: "Adding a classifier on top of the convnet", code: /flatten[\s\S]*dense[\s\S]*softmax/ },
    { n: "5.3", title: "Training the convnet on MNIST images", code: /compile[\s\S]*fit\(/ },
  ],
  "5.2-training-convnet-from-scratch.ipynb": [
    { n: "5.4", title: "Copying images to training, validation, and test directories", code: /ensureCatsAndDogs/ },
    { n: "5.5", title: "Instantiating a small convnet for dogs vs. cats classification", code: /sigmoid/ },
    { n: "5.6", title: "Configuring the model for training", code: /compile\([\s\S]*binaryCrossentropy/ },
    { n: "5.7", title: "Using ImageDataGenerator to read images from directories", code: /flowFromDirectory/ },
    { n: "5.8", title: "Fitting the model using a batch generator", code: /fit\(/ },
    { n: "5.9", title: "Saving the model", code: /saveModel\(/ },
    { n: "5.10", title: "Displaying curves of loss and accuracy during training", code: /val_acc|trainingCurves/ },
    {
      n: "5.11",
      title: "Setting up a data augmentation configuration via ImageDataGenerator",
      code: /rotationRange: 40[\s\S]*fillMode: "nearest"/,
    },
    { n: "5.12", title: "Displaying some randomly augmented training images", code: /flow|randomTransform/ },
    { n: "5.13", title: "Defining a new convnet that includes dropout", code: /dropout/ },
    {
      n: "5.14",
      title: "Training the convnet using data-augmentation generators",
      code: /rotationRange[\s\S]*flowFromDirectory[\s\S]*fit\(/,
    },
    { n: "5.15", title: "Saving the model", code: /saveModel\(/ },
  ],
  "5.3-using-a-pretrained-convnet.ipynb": [
    { n: "5.16", title: "Instantiating the VGG16 convolutional base", code: /vgg16\(/ },
    {
      n: "5.17",
      title: "Extracting features using the pretrained convolutional base",
      code: /function extractFeatures[\s\S]*predict/,
    },
    { n: "5.18", title: "Defining and training the densely connected classifier", code: /dropout[\s\S]*fit\(/ },
    { n: "5.19", title: "Plotting the results", code: /trainingCurves|plot/ },
    {
      n: "5.20",
      title: "Adding a densely connected classifier on top of the convolutional base",
      code: /add\(convBase\)/,
    },
    {
      n: "5.21",
      title: "Training the model end to end with a frozen convolutional base",
      code: /rotationRange[\s\S]*fit\(/,
    },
    { n: "5.22", title: "Freezing all layers up to a specific one", code: /block5_conv1/ },
    { n: "5.23", title: "Fine-tuning the model", code: /rmsprop\(1e-5\)[\s\S]*fit\(/ },
    { n: "5.24", title: "Smoothing the plots", code: /function smoothCurve/ },
  ],
  "5.4-visualizing-what-convnets-learn.ipynb": [
    { n: "5.25", title: "Preprocessing a single image", code: /cat\.1700\.jpg[\s\S]*expandDims/ },
    { n: "5.26", title: "Displaying the test picture", code: /imshow\(/ },
    {
      n: "5.27",
      title: "Instantiating a model from an input tensor and a list of output tensors",
      code: /layerOutputs[\s\S]*tf\.model\(/,
    },
    { n: "5.28", title: "Running the model in predict mode", code: /activationModel\.predict/ },
    { n: "5.29", title: "Visualizing the fourth channel", code: /matshow\([\s\S]*4/ },
    { n: "5.30", title: "Visualizing the seventh channel", code: /matshow\([\s\S]*7/ },
    { n: "5.31", title: "Visualizing every channel in every intermediate activation", code: /imagesPerRow/ },
    { n: "5.32", title: "Defining the loss tensor for filter visualization", code: /block3_conv1[\s\S]*mean/ },
    { n: "5.33", title: "Obtaining the gradient of the loss with regard to the input", code: /tf\.grad\(/ },
    { n: "5.34", title: "Gradient-normalization trick", code: /sqrt[\s\S]*1e-5/ },
    { n: "5.35", title: "Fetching output values given input values", code: /function iterate/ },
    { n: "5.36", title: "Loss maximization via stochastic gradient descent", code: /of steps\(40,/ },
    { n: "5.37", title: "Utility function to convert a tensor into a valid image", code: /function deprocessImage/ },
    { n: "5.38", title: "Function to generate filter visualizations", code: /function generatePattern/ },
    { n: "5.39", title: "Generating a grid of all filter response patterns in a layer", code: /margin/ },
    { n: "5.40", title: "Loading the VGG16 network with pretrained weights", code: /vgg16\(/ },
    { n: "5.41", title: "Preprocessing an input image for VGG16", code: /preprocessInput[\s\S]*decodePredictions/ },
    { n: "5.42", title: "Setting up the Grad-CAM algorithm", code: /function gradCam|pooledGrads/ },
    { n: "5.43", title: "Heatmap post-processing", code: /maximum\(|relu\(/ },
    { n: "5.44", title: "Superimposing the heatmap with the original picture", code: /0\.4/ },
  ],
};

/** A markdown heading line that names listing `n` (and not 5.10 for 5.1). */
export function headingNames(markdown: string, n: string): boolean {
  const number = n.replace(".", "[.-]");
  const pattern = new RegExp(`^#{1,6} .*(?:リスト|listing)\\s*${number}(?![\\d.])`, "im");
  return pattern.test(markdown);
}

interface Cell {
  cell_type: string;
  source: string | string[];
}

const text = (cell: Cell) => Array.isArray(cell.source) ? cell.source.join("") : cell.source;

/** Index of the code cell that holds listing `n`: the first code cell after the heading naming it. */
export function listingCell(cells: Cell[], n: string): number {
  const heading = cells.findIndex((c) => c.cell_type === "markdown" && headingNames(text(c), n));
  if (heading < 0) return -1;
  const next = cells.findIndex((c, i) => i > heading && c.cell_type === "code");
  // The listing sits right under its heading: no other markdown cell in between.
  if (next < 0 || cells.slice(heading + 1, next).some((c) => c.cell_type === "markdown")) return -1;
  return next;
}

Deno.test("listing headings: 5.1 is not 5.10, both the Japanese and the English form count", () => {
  assert.ok(headingNames("### リスト 5.1 小さな convnet", "5.1"));
  assert.ok(headingNames("## 訓練 (listing 5.3)", "5.3"));
  assert.ok(!headingNames("### リスト 5.10 曲線", "5.1"));
  assert.ok(!headingNames("本文で listing 5.1 に触れるだけ", "5.1"), "only a heading counts");
  const cells = [
    { cell_type: "markdown", source: "### リスト 5.1 x" },
    { cell_type: "markdown", source: "prose" },
    { cell_type: "code", source: "const model = 1;" },
  ];
  assert.equal(listingCell(cells, "5.1"), -1, "prose between the heading and the code");
  assert.equal(listingCell(cells.filter((_, i) => i !== 1), "5.1"), 1);
});

Deno.test("the table holds the book's 44 listings once each, in order", () => {
  const numbers = Object.values(LISTINGS).flat().map((l) => Number(l.n.split(".")[1]));
  assert.deepEqual(numbers, numbers.toSorted((a, b) => a - b), "in the book's order");
  assert.equal(new Set(numbers).size, numbers.length, "no listing twice");
  assert.deepEqual(numbers, Array.from({ length: 44 }, (_, i) => i + 1), "the first edition's 5.1–5.44, none missing");
});

for (const [notebook, listings] of Object.entries(LISTINGS)) {
  if (listings.length === 0) continue;
  Deno.test(`${notebook}: listings ${listings[0].n}–${listings.at(-1)!.n}, each a code cell under its number`, async () => {
    const doc = JSON.parse(await Deno.readTextFile(join(ROOT, "notebooks", notebook)));
    const cells: Cell[] = doc.cells;
    let previous = -1;
    for (const listing of listings) {
      const index = listingCell(cells, listing.n);
      assert.ok(index >= 0, `listing ${listing.n} (${listing.title}): no heading naming it right above a code cell`);
      assert.match(text(cells[index]), listing.code, `listing ${listing.n} (${listing.title}): cell ${index}`);
      assert.ok(index > previous, `listing ${listing.n} comes after the listing before it`);
      previous = index;
    }
  });
}
