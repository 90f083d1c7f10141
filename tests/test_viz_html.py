"""The interactive HTML drawing, driven in a real headless Chromium at 1280x800: search, click, pan,
zoom, keyboard, collapsing, offline; ResNet-152 opens readable at its input and zooms onto a hit."""

from __future__ import annotations

import importlib.util
import math
import shutil
import subprocess
import sys
from itertools import pairwise

import pytest
from helpers import ROOT

import archdsl

sync_api = pytest.importorskip("playwright.sync_api")  # a test dependency (pyproject.toml); the browser is Debian's

# scripts/setup installs Debian's (apt-get install chromium); Ubuntu's older package names it chromium-browser.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is not installed (apt-get install chromium)"),
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
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        except sync_api.Error as error:  # installed but cannot start here (a library or a display missing)
            pytest.skip(f"{CHROMIUM} did not start: {str(error).splitlines()[0]}")
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


def layer_id(path: str, name: str = "resnet34") -> int:
    ir = archdsl.build(ROOT / "architectures" / f"{name}.arch")
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
    assert page.locator("#details .inshape").inner_text() == "256x14x14"
    assert page.locator("#details .shape").inner_text() == "256x14x14"
    assert page.locator("#details .params").inner_text() == "589,824"
    assert page.locator("#details .macs").inner_text() == f"{589_824 * 14 * 14:,}"  # no bias: one MAC a weight a pixel
    assert page.locator("#details .options").inner_text() == \
        "channels=256, kernel=3x3, stride=1x1, padding=same, dilation=1x1, groups=1, bias=false"
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
    if importlib.util.find_spec("pygments"):  # highlighted: the layer words painted, the text unchanged
        assert page.locator("#details .text span").count() > 3
    assert page.locator("#details .shape").inner_text() == "128x28x28"
    assert page.locator("#details .params").inner_text() == "256"


def test_click_on_an_add_node(page):
    page.fill("#search", "layer4.0.conv1")
    add = page.locator("#view svg g.node[id^=L]", has_text="+").filter(has_text="512x7x7").first
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


def test_a_concat_lists_the_shapes_it_joins(browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(html_of("googlenet", tmp_path).as_uri())
    page.fill("#search", "concat")  # the first is inception3a's
    assert page.locator("#count").inner_text() == "9 found"
    assert page.locator("#details h2").inner_text() == "concat"
    assert page.locator("#details .inshape").inner_text() == "64x28x28, 128x28x28, 32x28x28, 32x28x28"
    assert page.locator("#details .shape").inner_text() == "256x28x28"
    page.close()


# -- ResNet-152: 559 layers drawn 28 times taller than wide ---------------------------------------

@pytest.fixture(scope="module")
def deep_file(tmp_path_factory):
    return html_of("resnet152", tmp_path_factory.mktemp("deep"))


@pytest.fixture
def deep(browser, deep_file):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(deep_file.as_uri())
    yield page
    assert errors == []
    page.close()


# Where an element's first text is on the page, in CSS pixels, and how large its font is drawn.
TEXT_BOX = """sel => {
  const t = document.querySelector(sel).querySelector("text"), r = t.getBoundingClientRect();
  const font = parseFloat(t.getAttribute("font-size")) * t.getScreenCTM().a;
  return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom, font: font};
}"""
VIEW_BOX = """() => { const r = document.getElementById("view").getBoundingClientRect();
  return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}; }"""


def on_screen_and_readable(page, selector: str) -> dict:
    text, view = page.evaluate(TEXT_BOX, selector), page.evaluate(VIEW_BOX)
    assert view["x0"] <= text["x0"] and text["x1"] <= view["x1"], (text, view)
    assert view["y0"] <= text["y0"] and text["y1"] <= view["y1"], (text, view)
    assert text["y1"] - text["y0"] >= 8 and text["font"] >= 10, text
    return text


def view_box(page) -> list[float]:
    return [float(v) for v in page.locator("#view svg").get_attribute("viewBox").split()]


def test_resnet152_opens_readable_at_its_input(deep):
    on_screen_and_readable(deep, "#L0")  # the input layer
    # Fit to the width, not the height: the drawing fills most of the view's width.
    drawn = deep.evaluate("() => document.querySelector('#view svg g.graph').getBoundingClientRect().width")
    assert drawn > 0.6 * deep.evaluate(VIEW_BOX)["x1"]


def test_search_in_resnet152_centres_and_zooms_onto_the_hit(deep):
    deep.fill("#search", "layer4.1.conv2")
    assert deep.locator("#count").inner_text() == "1 found"
    hit = f"#a_L{layer_id('layer4.1.conv2', 'resnet152')}-1"
    assert "hit" in deep.locator(hit).get_attribute("class")
    text, view = on_screen_and_readable(deep, hit), deep.evaluate(VIEW_BOX)
    # Centred: the middle of the hit's row is near the middle of the view.
    row = deep.locator(f"#view svg [id^=a_L{layer_id('layer4.1.conv2', 'resnet152')}-]").first.bounding_box()
    assert abs(row["y"] + row["height"] / 2 - (view["y0"] + view["y1"]) / 2) < 30
    assert text["font"] <= 2 * 10 + 0.01  # zoomed in enough to read, not so far that the neighbours go


def test_a_click_on_a_search_result_goes_to_it(deep):
    deep.fill("#search", "conv2")
    assert deep.locator("#count").inner_text() == "50 found"
    deep.locator("#matches li", has_text="layer3.20.conv2").click()
    assert deep.locator("#details .path").inner_text() == "layer3.20.conv2"
    on_screen_and_readable(deep, f"#a_L{layer_id('layer3.20.conv2', 'resnet152')}-1")


def test_wheel_zoom_follows_the_wheel_delta(deep):
    deep.mouse.move(400, 400)
    widths = [view_box(deep)[2]]
    for delta in (10, 100, -40):
        deep.mouse.wheel(0, delta)
        deep.wait_for_function(f"() => document.querySelector('#view svg').getAttribute('viewBox').split(' ')[2]"
                               f" != {widths[-1]!r}")
        widths.append(view_box(deep)[2])
    steps = [math.log(b / a) for a, b in pairwise(widths)]
    assert steps[0] > 0 and steps[2] < 0  # down zooms out, up zooms in
    assert steps[1] == pytest.approx(10 * steps[0], rel=0.01)
    assert steps[2] == pytest.approx(-4 * steps[0], rel=0.01)


def test_keyboard(deep):
    opening = view_box(deep)
    deep.keyboard.press("/")
    assert deep.evaluate("document.activeElement.id") == "search"
    deep.keyboard.type("bn3")
    assert deep.locator("#details .path").inner_text() == "layer1.0.bn3"
    deep.keyboard.press("Escape")
    deep.keyboard.press("n")
    assert deep.locator("#details .path").inner_text() == "layer1.1.bn3"
    deep.keyboard.press("Shift+N")
    assert deep.locator("#details .path").inner_text() == "layer1.0.bn3"
    before = view_box(deep)
    deep.keyboard.press("+")
    assert view_box(deep)[2] == pytest.approx(before[2] / 1.25)
    deep.keyboard.press("-")
    assert view_box(deep)[2] == pytest.approx(before[2])
    deep.keyboard.press("ArrowRight")
    deep.keyboard.press("ArrowDown")
    moved = view_box(deep)
    assert moved[0] > before[0] and moved[1] > before[1] and moved[2:] == pytest.approx(before[2:])
    deep.keyboard.press("0")
    assert view_box(deep) == opening


def test_collapse_and_expand_blocks(deep):
    deep.click("#depths button[data-view='0']")  # depth 1: a node per top-level block
    assert deep.locator("#depths button.on").inner_text() == "1"
    assert deep.locator("#view svg g.node[id^=G]").count() == 4  # layer1 to layer4
    layer3 = deep.locator("#view svg g.node[id^=G]", has_text="layer3")
    layer3.click()
    assert deep.locator("#details h2").inner_text() == "layer3: bottleneck ×36"
    assert deep.locator("#details .inshape").inner_text() == "512x28x28"
    assert deep.locator("#details .shape").inner_text() == "1024x14x14"
    assert deep.locator("#details .params").inner_text() == "40,613,888"
    layer3.dblclick()  # expands: the drawing one level deeper, kept on layer3, now open
    assert deep.locator("#depths button.on").inner_text() == "2"
    assert deep.locator("#details h2").inner_text() == "layer3"
    assert deep.locator("#view svg g.cluster[id^=C]", has_text="layer3").count() == 1
    assert deep.locator("#view svg g.node[id^=G]").count() == 3 + 8 + 36 + 3  # every bottleneck, collapsed
    deep.locator("#details .actions button", has_text="collapse").click()
    assert deep.locator("#depths button.on").inner_text() == "1"
    assert deep.locator("#details h2").inner_text() == "layer3: bottleneck ×36"
    on_screen_and_readable(deep, f"#{layer3.get_attribute('id')}")
    # A layer that is inside a collapsed block: searching it opens the drawing that shows it.
    deep.fill("#search", "layer4.1.conv2")
    assert deep.locator("#depths button.on").inner_text() == "all"
    on_screen_and_readable(deep, f"#a_L{layer_id('layer4.1.conv2', 'resnet152')}-1")


def test_a_depth_button_after_a_search_keeps_that_depth(deep):
    # The hit is drawn only in the full drawing; depth 1 shows the block that holds it, on screen.
    deep.fill("#search", "layer4.1.conv2")
    deep.click("#depths button[data-view='0']")
    assert deep.locator("#depths button.on").inner_text() == "1"
    layer4 = deep.locator("#view svg g.node[id^=G]", has_text="layer4")
    on_screen_and_readable(deep, f"#{layer4.get_attribute('id')}")
    assert "hit" in layer4.get_attribute("class")  # it holds the hit
    assert deep.locator("#view svg g.node.hit").count() == 1



# The cluster of a block drawn open, by its title: its id (C<k>) and where its title is on the page.
CLUSTER = """title => {
  const c = Array.from(document.querySelectorAll("#view svg g.cluster"))
    .find(g => g.querySelector("text") && g.querySelector("text").textContent === title);
  const r = c.querySelector("text").getBoundingClientRect();
  return {id: c.id, x: (r.left + r.right) / 2, y: (r.top + r.bottom) / 2};
}"""


def test_a_block_folds_into_one_box_and_back_in_place(page, tmp_path):
    # ResNet-34's full drawing: double-click layer3's cluster, and layer3 alone becomes one box.
    conv = page.locator(f"#a_L{layer_id('layer3.4.conv2')}-1")
    other = page.locator(f"#a_L{layer_id('layer2.0.conv1')}-1")
    page.fill("#search", "layer3")  # the first hit is the block: its start (the title) is on screen
    page.fill("#search", "")
    cluster = page.evaluate(CLUSTER, "layer3")
    assert 0 < cluster["x"] < 1280 and 0 < cluster["y"] < 800
    drawn = view_box(page)
    assert conv.is_visible() and other.is_visible()
    page.mouse.dblclick(cluster["x"], cluster["y"])
    box = page.locator(f"#view svg #F{cluster['id'][1:]}")
    assert box.locator("text").all_text_contents() == ["layer3: basic ×6", "256x14x14", "6,822,400 parameters"]
    assert not conv.is_visible() and other.is_visible()  # what layer3 holds is hidden, the rest is not
    assert page.locator("#view svg g.inside").count() > 6 * 5  # six blocks of nodes and edges
    assert view_box(page) == drawn  # the page did not move
    assert page.locator("#details h2").inner_text() == "layer3"
    page.screenshot(path=str(tmp_path / "folded.png"))
    box.dblclick()
    assert box.count() == 0 and conv.is_visible() and page.locator("#view svg g.inside").count() == 0
    # Folded again from the details panel; a search for a layer inside opens the fold.
    page.locator("#details .actions button", has_text="fold here").click()
    assert box.count() == 1 and not conv.is_visible()
    page.fill("#search", "layer3.4.conv2")
    assert box.count() == 0 and conv.is_visible()
