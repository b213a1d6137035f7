/**
 * Regenerates `lib/models/imagenet_classes.json`: the 1,000 ImageNet (ILSVRC
 * 2012) classes in Keras' order, each with its WordNet id, Keras' short name
 * and the long name.
 *
 * Sources, both shipped by package registries (no download from elsewhere):
 *
 * - the long names, in class order, from `@tensorflow-models/mobilenet`
 *   (Apache-2.0): `npm pack @tensorflow-models/mobilenet@2.1.1`, then
 *   `package/dist/imagenet_classes.js`;
 * - WordNet 3.0's noun database from Debian's `wordnet-base`
 *   (`apt-get download wordnet-base && dpkg -x wordnet-base_*.deb wn`,
 *   then `wn/usr/share/wordnet/data.noun`).
 *
 * A class's WordNet id is `n` + the offset of the noun synset whose lemmas are
 * the class's synonyms. Where several synsets fit (`crane` the bird and the
 * machine), the order decides: Keras' class indices sort the WordNet ids, so
 * the ids are chosen as the best-matching strictly increasing sequence. The
 * short name is the synset's first lemma, as in Keras' `imagenet_class_index.json`.
 *
 * @example
 * ```sh
 * deno run -A tools/gen_imagenet_classes.ts package/dist/imagenet_classes.js \
 *   wn/usr/share/wordnet/data.noun > lib/models/imagenet_classes.json && deno fmt lib/models/imagenet_classes.json
 * ```
 * @module
 */

interface Synset {
  offset: string;
  lemmas: string[];
}

function norm(word: string): string {
  return word.toLowerCase().replace(/[\s_\-']/g, "");
}

/** Reads the long class names from mobilenet's CommonJS module. */
export function parseMobilenetClasses(source: string): string[] {
  const exports: Record<string, unknown> = {};
  new Function("exports", source)(exports);
  const table = exports.IMAGENET_CLASSES as Record<number, string> | undefined;
  if (!table) throw new Error("the file does not define IMAGENET_CLASSES: give mobilenet's dist/imagenet_classes.js");
  const names = Array.from({ length: 1000 }, (_, i) => table[i]);
  if (names.some((n) => typeof n !== "string")) throw new Error("IMAGENET_CLASSES lacks some of the indices 0..999");
  return names;
}

/** Reads the noun synsets of WordNet's `data.noun`. */
export function parseWordnetNouns(text: string): Synset[] {
  const out: Synset[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("  ")) continue;
    const p = line.split(" ");
    const count = parseInt(p[3], 16);
    const lemmas: string[] = [];
    for (let i = 0; i < count; i++) lemmas.push(p[4 + 2 * i]);
    out.push({ offset: p[0], lemmas });
  }
  return out;
}

/** One class of the generated table. */
export interface ImagenetClassRow {
  wnid: string;
  name: string;
  longName: string;
}

/**
 * ImageNet's sense where WordNet has several synsets with exactly the class's
 * lemmas and the class order leaves the choice open (checked against Keras'
 * `imagenet_class_index.json`). Class index → WordNet offset, with its gloss.
 */
export const SENSES: Record<number, [string, string]> = {
  438: ["02815834", "beaker: flatbottomed jar used for chemistry"],
  443: ["02834397", "bib: top part of an apron"],
  456: ["02879718", "bow: weapon for shooting arrows"],
  471: ["02950826", "cannon: heavy gun fired from a tank"],
  501: ["03045698", "cloak: anything that covers or conceals"],
  549: ["03291819", "envelope: flat container for a letter"],
  586: ["03478589", "half track: motor vehicle propelled by half tracks"],
  624: ["03661043", "library: building that houses books"],
  664: ["03782006", "monitor: electronic equipment that checks transmissions"],
  727: ["03956157", "planetarium: building housing the projector"],
  766: ["04111531", "rotisserie: oven with a rotating spit"],
  813: ["04270147", "spatula: turner with a narrow flexible blade"],
  815: ["04275548", "spider web: web resembling a spider's"],
  982: ["10148035", "groom: man participant in his own marriage"],
  987: ["12144580", "corn: dried grains used as feed or meal"],
};

/** Matches each class name to a synset, keeping the ids in increasing order. */
export function matchClasses(names: string[], synsets: Synset[]): { rows: ImagenetClassRow[]; notes: string[] } {
  const byLemma = new Map<string, Synset[]>();
  for (const s of synsets) {
    for (const l of new Set(s.lemmas.map(norm))) {
      if (!byLemma.has(l)) byLemma.set(l, []);
      byLemma.get(l)!.push(s);
    }
  }
  type Cand = { s: Synset; score: number };
  const cands: Cand[][] = names.map((name) => {
    const words = name.split(",").map((w) => norm(w.trim())).filter(Boolean);
    const set = new Set(words);
    const seen = new Map<string, Cand>();
    for (const w of set) {
      for (const s of byLemma.get(w) ?? []) {
        if (seen.has(s.offset)) continue;
        const lemmas = s.lemmas.map(norm);
        const exact = lemmas.join(",") === words.join(",");
        const shared = lemmas.filter((l) => set.has(l)).length;
        const union = new Set([...lemmas, ...words]).size;
        const first = lemmas[0] === words[0] ? 0.5 : 0;
        seen.set(s.offset, { s, score: exact ? 10 : shared / union + first });
      }
    }
    const all = [...seen.values()];
    const sense = SENSES[names.indexOf(name)];
    return sense ? all.filter((c) => c.s.offset === sense[0]) : all;
  });
  // DP over strictly increasing offsets.
  const best: number[][] = [];
  const from: number[][] = [];
  cands.forEach((cs, i) => {
    if (cs.length === 0) throw new Error(`no WordNet synset shares a lemma with class ${i} (${names[i]})`);
    best[i] = [];
    from[i] = [];
    cs.forEach((c, k) => {
      if (i === 0) {
        best[i][k] = c.score;
        from[i][k] = -1;
        return;
      }
      let b = -Infinity, arg = -1;
      cands[i - 1].forEach((p, j) => {
        if (p.s.offset < c.s.offset && best[i - 1][j] > b) {
          b = best[i - 1][j];
          arg = j;
        }
      });
      best[i][k] = b + c.score;
      from[i][k] = arg;
    });
  });
  const last = cands.length - 1;
  let k = best[last].indexOf(Math.max(...best[last]));
  if (!Number.isFinite(best[last][k])) throw new Error("no increasing assignment of WordNet ids exists");
  const chosen: Cand[] = [];
  for (let i = last; i >= 0; i--) {
    chosen[i] = cands[i][k];
    k = from[i][k];
  }
  const notes: string[] = [];
  const rows = chosen.map((c, i) => {
    if (c.score < 10 || cands[i].filter((x) => x.score >= 10).length > 1) {
      notes.push(`${i} "${names[i]}" -> n${c.s.offset} [${c.s.lemmas.join(", ")}] of ${cands[i].length} candidates`);
    }
    return { wnid: `n${c.s.offset}`, name: c.s.lemmas[0], longName: names[i] };
  });
  return { rows, notes };
}

if (import.meta.main) {
  const [classesPath, nounsPath] = Deno.args;
  if (!classesPath || !nounsPath) {
    console.error("usage: deno run -A tools/gen_imagenet_classes.ts MOBILENET_imagenet_classes.js WORDNET_data.noun");
    Deno.exit(2);
  }
  const names = parseMobilenetClasses(await Deno.readTextFile(classesPath));
  const { rows, notes } = matchClasses(names, parseWordnetNouns(await Deno.readTextFile(nounsPath)));
  for (const n of notes) console.error(n);
  const lines = rows.map((r) => "  " + JSON.stringify([r.wnid, r.name, r.longName]));
  console.log("[\n" + lines.join(",\n") + "\n]");
}
