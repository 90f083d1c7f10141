"""The interactive HTML drawing, driven in a real headless Chromium: search, click, pan, zoom, offline."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from helpers import ROOT

import archdsl

sync_api = pytest.importorskip("playwright.sync_api")  # a test dependency (pyproject.toml); the browser is Debian's

CHROMIUM = "/usr/bin/chromium"  # scripts/setup installs it (apt-get install chromium)
pytestmark = [
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed"),
]


def html_of(name: str, folder) -> str:
    out = folder / f"{name}.html"
    subprocess.run([sys.executable, "-m", "archdsl", "viz", f"architectures/{name}.arch", "-o", str(out)],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    return out


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    return html_of("resnet34", tmp_path_factory.mktemp("html"))


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, page_file):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_file.as_uri())
    page.requests = requests
    yield page
    page.close()


def layer_id(path: str) -> int:
    ir = archdsl.build(ROOT / "architectures" / "resnet34.arch")
    return next(layer.id for layer in ir.enabled_layers() if str(layer.path) == path)


def test_page_is_self_contained(page, page_file):
    assert page.requests == [page_file.as_uri()]
    text = page_file.read_text()
    assert "<script src" not in text and "<link" not in text and "@import" not in text
    assert page.locator("#view svg g.cluster").count() == 36


def test_search_finds_a_layer_and_shows_its_details(page):
    page.fill("#search", "layer3.4.conv2")
    assert page.locator("#count").inner_text() == "1 found"
    assert page.locator("#matches li").all_inner_texts() == ["layer3.4.conv2 \u2014 conv2: conv3-256"]
    assert page.locator("#details h2").inner_text() == "conv2: conv3-256"
    assert page.locator("#details .shape").inner_text() == "256x14x14"
    assert page.locator("#details .params").inner_text() == "589,824"
    hit = f"#a_L{layer_id('layer3.4.conv2')}-1"
    assert "hit" in page.locator(hit).get_attribute("class")


def test_search_by_block_name_lists_every_use(page):
    page.fill("#search", "basic(128")
    assert page.locator("#count").inner_text() == "4 found"
    assert page.locator("#matches li").first.inner_text() == "layer2.0 \u2014 0: basic(128, 2)"


def test_click_on_a_layer_shows_its_source_line_shape_and_parameters(page):
    page.fill("#search", "layer2.0.conv1")  # centres it, so that its neighbour is on screen
    page.click(f"#a_L{layer_id('layer2.0.bn1')}-1")
    assert page.locator("#details h2").inner_text() == "bn1: bn"
    assert page.locator("#details .path").inner_text() == "layer2.0.bn1"
    assert page.locator("#details .where").inner_text() == "architectures/blocks/resnet.arch:8:44"  # `bn`
    assert page.locator("#details .text").inner_text() == "conv1: conv3-c/s(bias=false); bn1: bn; relu;"
    assert page.locator("#details .shape").inner_text() == "128x28x28"
    assert page.locator("#details .params").inner_text() == "256"


def test_click_on_an_add_node(page):
    page.fill("#search", "layer4.0.conv1")
    add = page.locator("#view svg g.node[id^=L]", has_text="add").filter(has_text="512x7x7").first
    add.click()
    assert page.locator("#details h2").inner_text() == "add"
    assert page.locator("#details .shape").inner_text() == "512x7x7"


def test_wheel_zooms_and_drag_pans(page):
    view = page.locator("#view svg")
    before = [float(v) for v in view.get_attribute("viewBox").split()]
    page.mouse.move(640, 400)
    page.mouse.wheel(0, -300)
    zoomed = [float(v) for v in view.get_attribute("viewBox").split()]
    assert zoomed[2] < before[2] and zoomed[3] < before[3]
    page.mouse.down()
    page.mouse.move(540, 300, steps=4)
    page.mouse.up()
    panned = [float(v) for v in view.get_attribute("viewBox").split()]
    assert panned[0] > zoomed[0] and panned[1] > zoomed[1] and panned[2:] == zoomed[2:]
    page.click("#reset")
    assert [float(v) for v in view.get_attribute("viewBox").split()] == before


def test_click_on_the_title_row_of_a_block_drawn_as_one_table(browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(html_of("googlenet", tmp_path).as_uri())
    page.fill("#search", "inception4a.branch1")
    assert page.locator("#count").inner_text() == "4 found"  # the block, then its conv, bn and relu
    page.locator("#view svg [id^=a_C]", has_text="branch1: conv_bn(192, 1, 1)").click()
    assert page.locator("#details h2").inner_text() == "branch1: conv_bn(192, 1, 1)"
    assert page.locator("#details .path").inner_text() == "inception4a.branch1"
    assert page.locator("#details .where").inner_text() == "architectures/blocks/inception.arch:13:18"  # the call
    assert page.locator("#details .text").inner_text() == "branch1: conv_bn(c1)"
    assert page.locator("#details .params").inner_text() == f"{480 * 192 + 2 * 192:,}"
    page.close()
