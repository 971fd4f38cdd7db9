"""The portal in real Chromium, with nothing but this machine reachable: the council raises a laptop
request from the catalogue, the IT desk works it from its queue, the council sees the charge in the
month's spend against its budget, finance closes the month, and the council opens its statement and
downloads the PDF. Each page is saved as a screenshot in artifacts/portal-*.png."""

import uuid
from urllib.parse import urlsplit

import httpx

from tests.e2e.test_operations import ARTIFACTS, CHROMIUM_FLAGS, chromium  # noqa: F401 (a fixture)

PERIOD, NEXT = "2041-03", "2041-04"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
UNLABELLED = """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                  .filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.name)"""


async def test_a_month_in_the_portal_from_request_to_statement(platform, chromium):  # noqa: F811
    from playwright.async_api import async_playwright, expect

    blocked: list[str] = []

    async def only_this_machine(route):
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    ARTIFACTS.mkdir(exist_ok=True)
    description = f"Laptop for a new social worker {uuid.uuid4().hex[:6]}"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = await browser.new_page(viewport={"width": 1366, "height": 900}, accept_downloads=True)
        await page.route("**/*", only_this_machine)

        async def shot(name: str) -> None:
            """Save the page; and every field on it has a label a screen reader announces."""
            await page.screenshot(path=str(ARTIFACTS / f"portal-{name}.png"), full_page=True)
            unlabelled = await page.evaluate(UNLABELLED)
            assert unlabelled == [], (name, unlabelled)

        async def sign_in(token: str) -> None:
            await page.goto(f"{platform.url}/portal")
            if await page.get_by_role("button", name="Sign out").count():
                await page.get_by_role("button", name="Sign out").click()
            await page.get_by_label("Access token").fill(token)
            await page.keyboard.press("Enter")  # the keyboard alone signs in
            await expect(page.get_by_role("button", name="Sign out")).to_be_visible()

        # A wrong token is refused on the sign-in page itself.
        await page.goto(f"{platform.url}/portal")
        await shot("1-sign-in")
        await page.get_by_label("Access token").fill("not-a-token")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_be_visible()

        # The council raises a laptop request from the catalogue, its price shown.
        await sign_in("dev-council")
        await page.get_by_text("IT", exact=True).click()
        form = page.get_by_role("form", name="Laptop provision", exact=True)
        await expect(form.get_by_text("Fixed price: £850.00 each")).to_be_visible()
        await form.get_by_label("Description").fill(description)
        await form.get_by_label("Cost centre").fill("ASC-100")
        await form.get_by_label("Quantity").fill("1")
        await form.get_by_role("button").click()
        await expect(page.get_by_role("status")).to_contain_text("laptop-provision requested")
        await page.get_by_role("link", name=f"laptop-provision: {description}").click()
        await expect(page.get_by_text("due in")).to_be_visible()  # the SLA clock
        await shot("2-partner-request")

        # The IT desk accepts, starts and completes it from its queue, charging it to the month.
        await sign_in("dev-staff-it")
        for action in ("Accept", "Start"):
            row = page.locator("tr", has_text=description)
            await row.get_by_role("button", name=action).click()
            await expect(page.get_by_role("status")).to_contain_text("done")
        row = page.locator("tr", has_text=description)
        await row.get_by_label("Charge to").fill(PERIOD)
        await shot("3-staff-queue")
        await row.get_by_role("button", name="Complete").click()
        await expect(page.get_by_role("status")).to_contain_text("complete: done")
        await page.get_by_label("Show").select_option("completed")  # the filter swaps the table in place
        await expect(page.locator("#queue tr", has_text=description)).to_be_visible()

        # The council sees the charge in the month's spend, against its budget.
        await sign_in("dev-council")
        await page.get_by_label("Month").fill(PERIOD)
        await page.get_by_role("button", name="Show").click()
        await expect(page.locator("#spent")).to_have_text("£850.00")
        await expect(page.get_by_text("Monthly budget")).to_be_visible()
        await shot("4-partner-spend")

        # Finance previews the month and closes it.
        await sign_in("dev-finance")
        await page.get_by_label("Period").fill(PERIOD)
        await page.get_by_role("button", name="Show").click()
        await expect(page.get_by_role("cell", name="Herefordshire Council")).to_be_visible()
        await shot("5-finance-preview")
        await page.get_by_role("button", name=f"Close {PERIOD} and issue the statements").click()
        await expect(page.get_by_role("status")).to_contain_text(f"{PERIOD} closed")
        await shot("6-finance-closed")

        # The council opens its statement and downloads the PDF.
        await sign_in("dev-council")
        number = f"HPS-{PERIOD.replace('-', '')}-"
        await page.get_by_role("link", name=number).first.click()
        await expect(page.get_by_text("signed with Ed25519")).to_be_visible()
        await expect(page.get_by_text(description)).to_be_visible()
        await shot("7-partner-statement")
        async with page.expect_download() as downloading:
            await page.get_by_role("link", name="PDF").click()
        pdf = await (await downloading.value).path()
        assert open(pdf, "rb").read(5) == b"%PDF-"

        # The council disputes the line; finance accepts; the credit note is next month's spend.
        await page.get_by_text("Dispute", exact=True).click()
        await page.get_by_label("Why is this line wrong?").fill("The laptop was never delivered")
        await page.get_by_role("button", name="Send dispute").click()
        await expect(page.get_by_role("status")).to_contain_text("disputed")
        await sign_in("dev-finance")
        card = page.locator("article", has_text="The laptop was never delivered")
        await card.get_by_label("Reason").first.fill("Delivery not signed for")
        await shot("8-finance-dispute")
        await card.get_by_role("button", name="Accept with a credit note").click()
        await expect(page.get_by_role("status")).to_contain_text("dispute accepted")
        await sign_in("dev-council")
        await page.get_by_label("Month").fill(NEXT)
        await page.get_by_role("button", name="Show").click()
        await expect(page.locator("#spent")).to_have_text("£-850.00")
        await browser.close()
    assert blocked == [], blocked


def test_the_portal_keeps_its_token_in_a_strict_cookie_and_refuses_forms_from_elsewhere(platform):
    forced = httpx.post(f"{platform.url}/portal/sign-in", data={"token": "dev-council"},
                        headers={"Origin": "http://attacker.example"})
    assert forced.status_code == 403 and "set-cookie" not in forced.headers  # no signing a browser in from elsewhere
    signed = httpx.post(f"{platform.url}/portal/sign-in", data={"token": "dev-council"})
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/portal" in cookie
    portal = httpx.Client(base_url=platform.url, cookies=signed.cookies)
    form = {"service": "it", "type": "account-setup", "description": "From elsewhere", "cost_centre": "ASC-100",
            "quantity": "1"}
    elsewhere = portal.post("/portal/requests", data=form, headers={"Origin": "http://attacker.example"})
    assert elsewhere.status_code == 403
    assert "From elsewhere" not in portal.get("/portal").text
    signed_out = httpx.post(f"{platform.url}/portal/requests", data=form)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/portal"
    # Strange addresses, forms and cookies are answered, never with a server error.
    for method, path in (("GET", "/portal/requests/%00%ff"), ("GET", "/portal/statements/..%2F..%2Fv1/download"),
                         ("GET", "/portal?period=%3Fx%23y"), ("POST", "/portal/periods/2041-03%3Fwait=1/close"),
                         ("POST", "/portal/disputes/x/delete"), ("GET", "/portal/statements/HPS-1/download?format=exe")):
        answer = portal.request(method, path, data={"reason": "x"})
        assert answer.status_code < 500, (path, answer.status_code)
    odd = httpx.get(f"{platform.url}/portal", headers={"Cookie": "hps_portal=Bearer \xfcnicode".encode("latin-1")})
    assert odd.status_code == 200 and "Access token" in odd.text
