// The chart next to the JSON: bench/results/net-<date>.svg, hand-written SVG.
// Four panels (TCP ×1, TCP ×4, UDP 64 B delivered kpps, HTTP req/s), one bar per
// contender, each panel scaled to its own maximum. A bar is the median of the runs,
// its whisker the runs' min–max, and its label the value and the ratio to kernel-vxlan.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QUIET_CORES } from './measure.js';
import { BASE, median, resultStamp, type ContenderResult, type RunResult } from './report.js';

interface Panel {
  title: string;
  unit: string;
  digits: number;
  value: (r: RunResult) => number | null | undefined;
}

const PANELS: Panel[] = [
  { title: 'TCP, 1 stream', unit: 'Gbit/s', digits: 2, value: (r) => r.tcp1?.gbps },
  { title: 'TCP, 4 streams', unit: 'Gbit/s', digits: 2, value: (r) => r.tcp4?.gbps },
  { title: 'UDP 64 B, delivered', unit: 'kpps', digits: 0, value: (r) => (r.udp ? r.udp.deliveredPps / 1000 : undefined) },
  { title: 'HTTP (autocannon)', unit: 'req/s', digits: 0, value: (r) => r.http?.rps },
];

const COLORS: Record<string, string> = {
  routes: '#9e9e9e',
  'kernel-vxlan': '#4e79a7',
  quicktun: '#f28e2b',
  'wireguard-go': '#d37295',
  'weft-vxlan': '#59a14f',
  'weft-ipip': '#76b7b2',
  'weft-udp': '#b07aa1',
};
const FALLBACK = ['#e15759', '#edc948', '#ff9da7', '#9c755f'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (v: number) => Number(v.toFixed(1));

function fmt(v: number, digits: number): string {
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const PW = 600; // panel width
const PH = 360; // panel height
const TOP = 70; // room for the title and the legend

function panel(p: Panel, results: ContenderResult[], x0: number, y0: number): string {
  const out: string[] = [];
  const plotL = x0 + 50;
  const plotR = x0 + PW - 15;
  const plotT = y0 + 95; // the tallest bar's labels go above it
  const plotB = y0 + PH - 45;
  const rows = results.map((r) => {
    const raw = r.runs.map(p.value).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    return { r, raw, med: median(raw) };
  });
  const baseMed = rows.find((x) => x.r.name === BASE)?.med;
  const max = Math.max(0, ...rows.flatMap((x) => x.raw));
  const scale = max > 0 ? (plotB - plotT) / max : 0;
  out.push(`<rect x="${x0 + 5}" y="${y0 + 5}" width="${PW - 10}" height="${PH - 10}" rx="6" fill="#fafafa" stroke="#ddd"/>`);
  out.push(`<text x="${x0 + 20}" y="${y0 + 30}" font-size="16" font-weight="bold">${esc(p.title)}</text>`);
  out.push(`<text x="${x0 + 20}" y="${y0 + 48}" font-size="12" fill="#555">${esc(p.unit)}, median of runs (whisker: min–max); ×: ratio to ${BASE}</text>`);
  // Axis with 0, max/2 and max.
  for (const f of [0, 0.5, 1]) {
    const y = num(plotB - f * max * scale);
    out.push(`<line x1="${plotL}" y1="${y}" x2="${plotR}" y2="${y}" stroke="${f === 0 ? '#888' : '#e4e4e4'}"/>`);
    out.push(`<text x="${plotL - 6}" y="${y + 4}" font-size="11" text-anchor="end" fill="#555">${esc(fmt(f * max, max * f >= 100 || f === 0 ? 0 : p.digits))}</text>`);
  }
  const slot = (plotR - plotL) / Math.max(1, rows.length);
  const bw = Math.min(56, slot * 0.62);
  rows.forEach((x, i) => {
    const cx = plotL + slot * (i + 0.5);
    const color = COLORS[x.r.name] ?? FALLBACK[i % FALLBACK.length]!;
    out.push(`<text x="${num(cx)}" y="${plotB + 16}" font-size="11" text-anchor="middle">${esc(x.r.name)}</text>`);
    if (x.med === undefined) {
      out.push(`<text x="${num(cx)}" y="${plotB - 8}" font-size="11" text-anchor="middle" fill="#c00">${x.r.ok ? 'no data' : 'failed'}</text>`);
      return;
    }
    const h = x.med * scale;
    out.push(`<rect x="${num(cx - bw / 2)}" y="${num(plotB - h)}" width="${num(bw)}" height="${num(h)}" fill="${color}"><title>${esc(`${x.r.name}: ${x.raw.map((v) => fmt(v, p.digits)).join(', ')} ${p.unit}`)}</title></rect>`);
    const lo = Math.min(...x.raw);
    const hi = Math.max(...x.raw);
    if (x.raw.length > 1 && hi > lo) {
      const yl = num(plotB - lo * scale);
      const yh = num(plotB - hi * scale);
      out.push(`<path d="M${num(cx)} ${yl}V${yh}M${num(cx - 6)} ${yl}H${num(cx + 6)}M${num(cx - 6)} ${yh}H${num(cx + 6)}" stroke="#333" stroke-width="1.2" fill="none"/>`);
    }
    const top = plotB - Math.max(h, hi * scale);
    out.push(`<text x="${num(cx)}" y="${num(top - 20)}" font-size="12" font-weight="bold" text-anchor="middle">${esc(fmt(x.med, p.digits))}</text>`);
    const ratio = baseMed !== undefined && baseMed > 0 ? `×${(x.med / baseMed).toFixed(2)}` : '';
    if (ratio) out.push(`<text x="${num(cx)}" y="${num(top - 6)}" font-size="11" text-anchor="middle" fill="#333">${esc(ratio)}</text>`);
  });
  return out.join('\n');
}

export function renderChart(results: ContenderResult[], date: Date, runs: number): string {
  const cols = 2;
  const W = PW * cols;
  const H = TOP + PH * Math.ceil(PANELS.length / cols) + 10;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="15" y="26" font-size="18" font-weight="bold">weft bench:net, pod to pod, ${esc(date.toISOString().replace(/\.\d+Z$/, 'Z'))}</text>`,
  ];
  let lx = 15;
  results.forEach((r, i) => {
    const color = COLORS[r.name] ?? FALLBACK[i % FALLBACK.length]!;
    parts.push(`<rect x="${lx}" y="42" width="12" height="12" fill="${color}"/>`);
    const disturbed = (r.median?.backgroundCores ?? 0) > QUIET_CORES;
    const label = `${r.name}${r.ok ? '' : ' (failed)'}${disturbed ? ' *' : ''}`;
    parts.push(`<text x="${lx + 16}" y="52" font-size="12">${esc(label)}</text>`);
    lx += 28 + label.length * 7;
  });
  parts.push(`<text x="${W - 15}" y="52" font-size="12" text-anchor="end" fill="#555">${runs} run(s) per contender; * = other jobs were busy (see the table's bg cores)</text>`);
  PANELS.forEach((p, i) => parts.push(panel(p, results, (i % cols) * PW, TOP + Math.floor(i / cols) * PH)));
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export function writeChart(dir: string, results: ContenderResult[], date: Date, runs: number): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `net-${resultStamp(date)}.svg`);
  writeFileSync(file, renderChart(results, date, runs));
  return file;
}
