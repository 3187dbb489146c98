/// <reference lib="dom" />
import fs from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium, which the browser tests drive through playwright-core (no downloaded browser). */
export const CHROMIUM_PATH = process.env.CARTFLOW_CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Launches headless Chromium for a test, or fails at once saying how to install it: the browser tests
 * never skip, so a machine without Chromium fails them with this message rather than passing them.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `The browser tests need Chromium at ${CHROMIUM_PATH}, which is missing. Install it with ` +
        '`apt-get install chromium` (Debian/Ubuntu), or point CARTFLOW_CHROMIUM_PATH at a Chromium binary.',
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ARGS });
}

/** What a Chart.js chart holds, as the page's window.Chart (the dashboard's charting library) gives it. */
export interface ChartWindow {
  Chart: {
    getChart(
      canvas: Element,
    ): { data: { labels: unknown[]; datasets: { label?: string; data: unknown[] }[] } } | undefined;
  };
}

export interface ChartData {
  labels: string[];
  datasets: { label: string; data: (number | null)[] }[];
}

/**
 * The labels and datasets of the chart on `canvas[data-chart=name]`, or null when the page has no
 * such chart. Values that are not numbers (a floating bar's [low, high]) come as their first number.
 */
export async function chartData(page: Page, name: string): Promise<ChartData | null> {
  return page.evaluate((chartName) => {
    const canvas = document.querySelector(`canvas[data-chart="${chartName}"]`);
    const chart = canvas && (window as unknown as ChartWindow).Chart.getChart(canvas);
    if (!chart) return null;
    const value = (v: unknown): number | null => {
      if (typeof v === 'number') return v;
      if (Array.isArray(v)) return value(v[0]);
      if (v && typeof v === 'object' && 'y' in v) return value((v as { y: unknown }).y);
      return null;
    };
    return {
      labels: chart.data.labels.map(String),
      datasets: chart.data.datasets.map((d) => ({ label: String(d.label ?? ''), data: d.data.map(value) })),
    };
  }, name);
}
