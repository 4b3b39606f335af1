// The accessibility scan of the pages: axe-core (pinned in package-lock.json) run inside
// a playwright page. Fails on any violation of impact `serious` or `critical`, naming the
// rule and the elements. The script is evaluated through the DevTools protocol, so the
// pages' strict CSP (no inline script) stays on.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Runs axe on `page`; throws on serious or critical violations. Returns the violations. */
export async function checkA11y(page, label) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    await axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length > 0) {
    const detail = bad
      .map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.map((n) => n.target.join(' ')).join('\n    ')}`)
      .join('\n  ');
    throw new Error(`axe: ${bad.length} serious/critical violation(s) on ${label}:\n  ${detail}`);
  }
  console.log(`  axe: ${label} clean (${result.violations.length} minor)`);
  return result.violations;
}

/** Collects Content-Security-Policy violations a page reports (its console). */
export function watchCsp(page, sink) {
  page.on('console', (msg) => {
    if (/Content Security Policy|Content-Security-Policy/i.test(msg.text())) sink.push(msg.text());
  });
}
