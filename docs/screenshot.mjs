// Takes the two pictures of the docs with headless Chromium (playwright-core), from a running
// server: docs/swagger-ui.png (Swagger UI with every tag but OAuth folded, so the token
// endpoint is in view under the header), docs/login.png (the login page of a registered web client)
// docs/device-entry.png / device-confirm.png (the device verification page, RFC 8628) and
// docs/console-overview.png (the admin console's overview), docs/console-client.png (a client's
// page in the console) and docs/account.png (the account page).
// Environment: ISSUER, CLIENT_ID (a client with a loopback redirect URI), REDIRECT_URI, OUT_DIR,
// DEVICE_ID (a public client with the device_code grant), PASSWORD (alice's), ADMIN_USER and
// ADMIN_PASSWORD (a user with the console role).
import { chromium } from "playwright-core";

const { ISSUER, CLIENT_ID, REDIRECT_URI, OUT_DIR } = process.env;
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${ISSUER}/docs`);
  await page.locator(".opblock-tag").first().waitFor();
  // Fold every tag but the OAuth endpoints, so the page top (title, server, Authorize) and
  // POST /oauth/token fit in one picture.
  for (const tag of await page.locator(".opblock-tag").all()) {
    const name = (await tag.getAttribute("data-tag")) ?? (await tag.innerText());
    if (!name.startsWith("OAuth")) await tag.click();
  }
  await page.locator(".opblock", { hasText: "/oauth/token" }).first().waitFor();
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(500);
  // Down to the end of the last tag section (OAuth), above the schema list.
  const height = await page.evaluate(() => {
    const sections = document.querySelectorAll(".opblock-tag-section");
    return sections[sections.length - 1].getBoundingClientRect().bottom;
  });
  await page.setViewportSize({ width: 1280, height: Math.min(Math.ceil(height) + 20, 2400) });
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${OUT_DIR}/swagger-ui.png` });

  const login = await browser.newPage({ viewport: { width: 900, height: 640 } });
  const url = new URL(`${ISSUER}/oauth/authorize`);
  url.search = new URLSearchParams({
    response_type: "code", client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, scope: "openid orders:read",
    state: "s", code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method: "S256",
  }).toString();
  await login.goto(url.toString());
  await login.getByRole("heading", { name: "Sign in" }).waitFor();
  await login.getByLabel("Username").focus();
  await login.screenshot({ path: `${OUT_DIR}/login.png` });

  // The device verification page (RFC 8628): entry from verification_uri_complete (code
  // prefilled, sign-in fields), then the confirmation after Continue. Nothing is approved.
  const device = await (await fetch(`${ISSUER}/oauth/device_authorization`, {
    method: "POST",
    body: new URLSearchParams({ client_id: process.env.DEVICE_ID, scope: "openid orders:read" }),
  })).json();
  const entry = await browser.newPage({ viewport: { width: 900, height: 720 } });
  await entry.goto(device.verification_uri_complete);
  await entry.getByRole("heading", { name: "Connect a device" }).waitFor();
  await entry.getByLabel("Username").fill("alice");
  await entry.getByLabel("Password").fill(process.env.PASSWORD);
  await entry.getByLabel("Username").focus();
  await entry.screenshot({ path: `${OUT_DIR}/device-entry.png` });
  await entry.getByRole("button", { name: "Continue" }).click();
  await entry.getByRole("heading", { name: "Allow access?" }).waitFor();
  await entry.screenshot({ path: `${OUT_DIR}/device-confirm.png` });

  // The console's overview (docs/console-overview.png): an admin signs in, schedules an ES256
  // rotation (so the timeline shows a key waiting to sign and the current one's retirement),
  // and the overview is taken with the activity the script generated.
  const consoleContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const overview = await consoleContext.newPage();
  await overview.goto(`${ISSUER}/console`);
  await overview.getByLabel("Username").fill(process.env.ADMIN_USER);
  await overview.getByLabel("Password").fill(process.env.ADMIN_PASSWORD);
  await overview.getByRole("button", { name: "Sign in" }).click();
  await overview.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
  await overview.goto(`${ISSUER}/console/keys`);
  await overview.getByLabel("Algorithm").first().selectOption("ES256");
  await overview.getByRole("button", { name: "Rotate", exact: true }).click();
  await overview.getByRole("status").waitFor();
  await overview.goto(`${ISSUER}/console`);
  await overview.locator("svg.timeline").waitFor();
  await overview.screenshot({ path: `${OUT_DIR}/console-overview.png`, fullPage: true });

  // A client's page in the console (docs/console-client.png): "Orders Web", found with the
  // clients search, its facts and the edit form.
  await overview.goto(`${ISSUER}/console/clients?q=Orders%20Web`);
  await overview.getByRole("link", { name: "Orders Web", exact: true }).first().click();
  await overview.getByRole("heading", { level: 1, name: "Orders Web" }).waitFor();
  await overview.screenshot({ path: `${OUT_DIR}/console-client.png`, fullPage: true });

  // The account page on a phone-sized screen (docs/account.png): alice signs in at /account;
  // her earlier sign-in (the device flow above, in another browser) shows as a second session.
  const accountContext = await browser.newContext({ viewport: { width: 420, height: 900 } });
  const account = await accountContext.newPage();
  await account.goto(`${ISSUER}/account`);
  await account.getByLabel("Username").fill("alice");
  await account.getByLabel("Password").fill(process.env.PASSWORD);
  await account.getByRole("button", { name: "Sign in" }).click();
  await account.getByRole("heading", { level: 1, name: "Your account" }).waitFor();
  await account.screenshot({ path: `${OUT_DIR}/account.png`, fullPage: true });
} finally {
  await browser.close();
}
