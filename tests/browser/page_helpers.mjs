// Helpers shared by the browser tests of the scan station page.

// Debian's chromium through playwright-core: a fresh profile per run, no network beyond loopback, no background
// services, no GPU.
export async function launchChromium(chromium, executablePath, profileDir) {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: {width: 1200, height: 900},
    timeout: 30000,
  });
  const page = context.pages()[0] || await context.newPage();
  return {context, page};
}

// What the result panel shows: class, headline, sub line, reason, banner background, facts by label,
// warnings and the history entries.
export async function resultView(page) {
  return page.evaluate(() => {
    const facts = {};
    for (const dt of document.querySelectorAll('#facts dt')) facts[dt.textContent] = dt.nextElementSibling.textContent;
    return {
      cls: document.getElementById('result').className,
      verdict: document.getElementById('verdict').textContent,
      sub: document.getElementById('verdict-sub').textContent,
      reason: document.getElementById('reason').textContent,
      banner: getComputedStyle(document.querySelector('#result .banner')).backgroundImage,
      warnings: [...document.querySelectorAll('#warnings li')].map((li) => li.textContent),
      history: [...document.querySelectorAll('#history .entry')].map((b) => b.textContent),
      facts,
    };
  });
}

export async function waitForVerdict(page, text) {
  await page.waitForFunction((t) => document.getElementById('verdict').textContent === t, text);
}

