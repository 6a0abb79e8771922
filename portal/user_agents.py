"""What a User-Agent header says about the browser and the operating system, as people name them.

Shared by the pages (``templating.browser``: "Firefox on Linux") and the sign-in alerts, which
remember a browser by these two names only: a browser's version changes every few weeks, its name
and its system do not.
"""

# Checked in order: Edge and Opera also say "Chrome", and Chrome also says "Safari".
BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
            ("Chromium/", "Chromium"), ("Safari/", "Safari"), ("curl/", "curl"))
SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("Windows", "Windows"),
           ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def browser_and_system(user_agent: str | None) -> tuple[str | None, str | None]:
    """The browser's and the operating system's names ("Firefox", "Linux"); None for either that
    the header does not name."""
    if not user_agent:
        return None, None
    name = next((label for token, label in BROWSERS if token in user_agent), None)
    system = next((label for token, label in SYSTEMS if token in user_agent), None)
    return name, system
