/**
 * A one-line title above a picture, rendered from SVG text by librsvg
 * (through sharp), where the machine has a font.
 *
 * @module
 */
import sharp from "sharp";
import { escapeXml } from "../notebook/svg_chart.ts";
import type { PixelImage } from "../preprocessing/image.ts";

let fontCheck: Promise<boolean> | undefined;

/** Gray levels (255 − the alpha of black text) of `text` drawn in a white band. */
async function renderText(text: string, width: number, height: number, fontSize: number): Promise<Uint8Array> {
  const y = Math.round(height / 2 + fontSize * 0.35);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><text x="4" y="${y}" ` +
    `font-family="DejaVu Sans, Liberation Sans, sans-serif" font-size="${fontSize}">${escapeXml(text)}</text></svg>`;
  const alpha = await sharp(new TextEncoder().encode(svg)).ensureAlpha().extractChannel(3).raw().toBuffer();
  return Uint8Array.from(alpha, (a) => 255 - a);
}

/**
 * Whether SVG text renders on this machine (librsvg finds a font). Checked
 * once; without a font {@link addTitle} returns the picture unchanged.
 */
export function canRenderText(): Promise<boolean> {
  fontCheck ??= renderText("Ag", 40, 24, 16).then((g) => g.some((v) => v < 128)).catch(() => false);
  return fontCheck;
}

/**
 * Put a one-line title (14 px) in a white band above a picture; the result
 * is gray or RGB (an alpha channel is dropped). Where no font can render,
 * the picture comes back unchanged (put the title in the caption).
 */
export async function addTitle(img: PixelImage, title: string): Promise<PixelImage> {
  if (!title || !(await canRenderText())) return img;
  const fontSize = 14, band = Math.ceil(fontSize * 1.6);
  const text = await renderText(title, img.width, band, fontSize);
  const c = img.channels === 1 ? 1 : 3;
  const out = new Uint8Array(img.width * (img.height + band) * c);
  text.forEach((v, i) => out.fill(v, i * c, i * c + c));
  const rgb = (i: number) => img.data.subarray(i * 4, i * 4 + 3); // RGBA: alpha dropped
  if (img.channels === c) out.set(img.data, text.length * c);
  else for (let i = 0; i < img.width * img.height; i++) out.set(rgb(i), (text.length + i) * 3);
  return { data: out, width: img.width, height: img.height + band, channels: c };
}
