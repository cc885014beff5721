"""Catalogs (``topologies/catalogs/<name>.jsonl``): rows journeys look up by id in conditions and templates, as
Braze's Catalogs and Customer.io's Collections. Before, a back-in-stock mail could name only what the event
carried: every producer copied the product's title, picture and price into each event."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import orjson
import pytest

from cjo_stream.journeys.expressions import ExpressionError, compile_expression
from cjo_stream.journeys.loader import JourneyLoadError, load_topology
from tests.test_cli_errors import run

STOCK = """journey: back_in_stock
entry: {event: back_in_stock, when: "catalogs.products[event.properties.sku].in_stock == true"}
steps:
  - id: later
    wait: 1h
  - id: mail
    send:
      channel: email
      content:
        subject: "{{ catalogs.products[event.properties.sku].title }} is back"
        body: "now {{ catalogs.products[event.properties.sku].price }} EUR"
"""

PRODUCTS = [{"id": "sku-1", "title": "Red shoes", "price": 79, "in_stock": True},
            {"id": 42, "title": "Blue hat", "price": 19.5, "in_stock": True},
            {"id": "sku-3", "title": "Green scarf", "price": 25, "in_stock": False}]


def _topology(tmp_path: Path, journey: str = STOCK, rows: list[object] | None = None, name: str = "products.jsonl",
              raw: bytes | None = None) -> Path:
    (tmp_path / "journeys").mkdir(exist_ok=True)
    (tmp_path / "journeys" / "j.yaml").write_text(journey)
    (tmp_path / "catalogs").mkdir(exist_ok=True)
    body = raw if raw is not None else b"\n".join(orjson.dumps(r) for r in (PRODUCTS if rows is None else rows))
    (tmp_path / "catalogs" / name).write_bytes(body + b"\n")
    return tmp_path


def _problems(root: Path) -> list[str]:
    with pytest.raises(JourneyLoadError) as e:
        load_topology(str(root))
    return [str(p).replace(f"{root}/", "") for p in e.value.problems]


def _stock_events(tmp_path: Path, skus: Iterable[tuple[str, object]]) -> Path:
    """``e.jsonl``: for each (customer, sku), an identify giving an address, then ``back_in_stock`` of that sku."""
    lines = []
    for n, (who, sku) in enumerate(skus):
        lines += [{"messageId": f"i{n}", "type": "identify", "userId": who, "timestamp": "2026-03-02T10:00:00Z",
                   "traits": {"email": f"{who}@example.com"}},
                  {"messageId": f"t{n}", "type": "track", "event": "back_in_stock", "userId": who,
                   "timestamp": "2026-03-02T10:01:00Z", "properties": {"sku": sku}}]
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    return events


def test_simulate_looks_rows_up_by_id_in_conditions_and_templates(tmp_path: Path) -> None:
    root = _topology(tmp_path)
    events = _stock_events(tmp_path, (("a", "sku-1"), ("b", 42), ("c", "42"), ("d", "sku-3"), ("e", "nope")))
    p = run("simulate", "--topologies", str(root), "--events", str(events))
    assert p.returncode == 0, p.stderr
    got = sorted((c["customer_id"], c["content"]["subject"], c["content"]["body"])
                 for c in map(orjson.loads, p.stdout.splitlines()))
    # after the hour's wait, still the entry event's sku; 42 as a number or as text finds the same row; sku-3
    # is out of stock (the entry's condition) and "nope" has no row (null: not true)
    assert got == [("a", "Red shoes is back", "now 79 EUR"), ("b", "Blue hat is back", "now 19.5 EUR"),
                   ("c", "Blue hat is back", "now 19.5 EUR")]


def test_simulate_and_replay_note_the_ids_with_no_row(tmp_path: Path) -> None:
    """Events spelling the ids otherwise than the catalog (``SKU-1`` for ``sku-1``) found no row, silently: the
    mail went out " is back". Only a template reads the catalog here, so the mail goes out all the same."""
    journey = STOCK.replace(', when: "catalogs.products[event.properties.sku].in_stock == true"', "")
    root = _topology(tmp_path, journey)
    for skus, told in ((("SKU-1", "sku-1", 7, "SKU-1"), "note: catalog 'products': 2 id(s) looked up have no row "
                                                        "('SKU-1', 7), beside 1 that have: a condition reads their "
                                                        "fields as null, a template renders them empty"),
                       (("sku-1", 42), None)):
        events = _stock_events(tmp_path, [(f"c{n}", sku) for n, sku in enumerate(skus)])
        p = run("simulate", "--topologies", str(root), "--events", str(events))
        assert p.returncode == 0, p.stderr
        notes = [ln for ln in p.stderr.splitlines() if ln.startswith("note: catalog")]
        assert notes == ([] if told is None else [notes[0]]) and (told is None or notes[0].startswith(told)), notes
        if told is not None:
            assert " is back" in {orjson.loads(c)["content"]["subject"] for c in p.stdout.splitlines()}
        r = run("replay", "--topologies", str(root), "--events", str(events))  # replay tells it as simulate does
        assert r.returncode == 0, r.stderr
        assert [ln for ln in r.stderr.splitlines() if ln.startswith("note: catalog")] == notes


def test_a_catalog_name_with_no_file_is_refused_at_its_line(tmp_path: Path) -> None:
    text = STOCK.replace("catalogs.products[event.properties.sku].in_stock", "catalogs.product[event.properties.sku].in_stock")
    text = text.replace("{{ catalogs.products[event.properties.sku].price }}", "{{ catalogs.prices[event.properties.sku].eur }}")
    assert _problems(_topology(tmp_path, text)) == [
        "journeys/j.yaml:2: no catalog 'product' (did you mean 'products'?)",
        "journeys/j.yaml:11: body: template: no catalog 'prices'; the catalogs are products"]


def test_a_field_no_row_has_is_warned_about(tmp_path: Path) -> None:
    root = _topology(tmp_path, STOCK.replace("].price }}", "].prize }}"))
    warnings = [w.replace(f"{root}/", "") for w in load_topology(str(root)).warnings]
    assert warnings == ["journeys/j.yaml:11: warning: step mail's body reads field 'prize' of catalog 'products', "
                        "which no row has (did you mean 'price'?): it renders empty"]


ROW_VARIABLE = """journey: back_in_stock
entry: {event: back_in_stock}
steps:
  - id: mail
    send:
      channel: email
      content:
        subject: "{% assign p = catalogs.products[event.properties.sku] %}{{ p.title }} is back"
        body: |
          {% assign p = catalogs.products[event.properties.sku] %}
          Now {{ p.prize }} EUR{% if p.instock %}, in stock{% endif %}.
          {% assign p = event.properties %}{{ p.note }}
"""


def test_a_field_read_through_a_variable_holding_a_row_is_warned_about_too(tmp_path: Path) -> None:
    """Braze's habit, ``{% catalog_items %}`` then ``{{ items[0].title }}``, written here as an ``assign`` of the
    row: the paths name the variable, not the catalog, and a misspelt field rendered empty with no warning."""
    root = _topology(tmp_path, ROW_VARIABLE)
    warnings = [w.replace(f"{root}/", "") for w in load_topology(str(root)).warnings]
    assert warnings == [
        "journeys/j.yaml:11: warning: step mail's body reads p.prize, field 'prize' of catalog 'products', which no "
        "row has (did you mean 'price'?): it renders empty",
        "journeys/j.yaml:11: warning: step mail's body reads p.instock, field 'instock' of catalog 'products', which "
        "no row has (did you mean 'in_stock'?): it renders empty"], warnings
    # the fields it reads as written render, and the variable assigned anew (the event's properties) is no row
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in [
        {"type": "identify", "userId": "u1", "messageId": "m0", "timestamp": "2026-03-01T09:00:00Z",
         "traits": {"email": "u1@example.com"}},
        {"type": "track", "event": "back_in_stock", "userId": "u1", "messageId": "m1",
         "timestamp": "2026-03-01T10:00:00Z", "properties": {"sku": "sku-1", "note": "n"}}]) + b"\n")
    root = _topology(tmp_path, ROW_VARIABLE.replace("p.prize", "p.price").replace("p.instock", "p.in_stock"))
    assert load_topology(str(root)).warnings == []
    p = run("simulate", "--topologies", str(root), "--events", str(tmp_path / "e.jsonl"))
    assert p.returncode == 0, p.stderr
    content = orjson.loads(p.stdout.splitlines()[0])["content"]
    assert content["subject"] == "Red shoes is back" and "Now 79 EUR, in stock." in content["body"], content


def test_a_misspelt_field_read_twice_through_its_variable_is_told_once(tmp_path: Path) -> None:
    """As a field read directly twice is: two identical lines said nothing more."""
    root = _topology(tmp_path, ROW_VARIABLE.replace("Now {{ p.prize }} EUR", "Now {{ p.prize }} EUR ({{ p.prize }})"))
    warnings = [w for w in load_topology(str(root)).warnings if "p.prize" in w]
    assert len(warnings) == 1, warnings


@pytest.mark.parametrize(("cond", "told"), [
    ("catalogs.products[event.properties.sku].instock == true",
     "'catalogs.products[event.properties.sku].instock == true' reads field 'instock' of catalog 'products', which "
     "no row has (did you mean 'in_stock'?): it is null"),
    # Liquid reads `sku-1` as a key; a condition reads row 'sku' minus 1.in_stock: false for everyone
    ("catalogs.products.sku-1.in_stock == true",
     "'catalogs.products.sku-1.in_stock == true' reads row 'sku' of catalog 'products', which has no row of that "
     "id: it is null (an id of other characters than letters, digits and _ goes in brackets: "
     "catalogs.products['sku-1'])"),
    ("catalogs.products['sku1'].in_stock == true", "reads row 'sku1' of catalog 'products', which has no row of "
                                                    "that id (did you mean 'sku-1'?): it is null"),
])
def test_a_condition_reading_what_no_row_has_is_warned_about(tmp_path: Path, cond: str, told: str) -> None:
    """Only a template's fields were checked: a condition's misspelt field was false for everyone, silently."""
    root = _topology(tmp_path, STOCK.replace("catalogs.products[event.properties.sku].in_stock == true", cond))
    warnings = [w.replace(f"{root}/", "") for w in load_topology(str(root)).warnings]
    assert len(warnings) == 1 and warnings[0].startswith("journeys/j.yaml:2: warning: ") and told in warnings[0], \
        warnings
    # the same, written right, is told nothing (a template's `sku-1` is a key: Liquid reads it so)
    right = STOCK.replace("catalogs.products[event.properties.sku].in_stock == true",
                          "catalogs.products['sku-1'].in_stock == true").replace("].price }}", "].price }} "
                                                                                  "{{ catalogs.products.sku-1.title }}")
    assert load_topology(str(_topology(tmp_path, right))).warnings == []


@pytest.mark.parametrize(("raw", "name", "told"), [
    (b'{"id": "a"}\n{"id": "b", oops}', "products.jsonl", "catalogs/products.jsonl:2: not JSON: "),
    (b'{"id": "a"}\n{"title": "no id"}', "products.jsonl",
     "catalogs/products.jsonl:2: a row needs an `id`: text or a whole number"),
    (b'{"id": "a"}\n\n{"id": "a"}', "products.jsonl",
     "catalogs/products.jsonl:3: id 'a' is also on line 1: each row has an id of its own"),
    (b'["a", 1]', "products.jsonl", "catalogs/products.jsonl:1: a row is a JSON object"),
    (b"id,title\na,b", "products.csv", "catalogs/products.csv:1: a catalog is a .jsonl file"),
    (b'{"id": "a"}', "Products.jsonl", "catalogs/Products.jsonl:1: catalog name 'Products': lower-case letters"),
    (b'{"id": "a"}', "gift-cards.jsonl", "catalogs/gift-cards.jsonl:1: catalog name 'gift-cards': lower-case letters, "
                                         "digits and _, starting with a letter (templates read it as "
                                         "catalogs.<name>): rename it gift_cards.jsonl"),
])
def test_a_bad_catalog_file_is_refused_at_its_line(tmp_path: Path, raw: bytes, name: str, told: str) -> None:
    problems = _problems(_topology(tmp_path, "journey: j\nentry: {event: x}\nsteps:\n  - id: w\n    wait: 1h\n",
                                   raw=raw, name=name))
    assert len(problems) == 1 and problems[0].startswith(told), problems


def test_what_spreadsheets_and_exports_write_loads(tmp_path: Path) -> None:
    """A BOM (Excel's, Notepad's), Windows line ends and an id as pandas writes an integer column with gaps
    (``42.0``) were refused: the BOM as "not JSON", 42.0 as "a row needs an id"."""
    raw = b"\xef\xbb\xbf" + b'{"id": "sku-1", "title": "Red shoes"}\r\n{"id": 42.0, "title": "Blue hat"}\r\n'
    cats = load_topology(str(_topology(tmp_path, raw=raw))).catalogs
    assert cats["products"]["sku-1"]["title"] == "Red shoes"
    assert cats["products"][42]["title"] == cats["products"]["42"]["title"] == "Blue hat"


@pytest.mark.parametrize(("raw", "told"), [
    (b'[\n  {"id": "a"},\n  {"id": "b"}\n]', ["catalogs/products.jsonl:1: a catalog is JSON lines, one object on "
                                               "each line, not a JSON array or pretty-printed JSON"]),
    (b'[{"id": "a"}, {"id": "b"}]', ["catalogs/products.jsonl:1: a catalog is JSON lines"]),
    (b'{"id": "a"},\n{"id": "b"},', ["catalogs/products.jsonl:1: not JSON: a comma after the row: a line holds "
                                     "one object", "catalogs/products.jsonl:2: not JSON: a comma after the row"]),
    (b'{"id": 4.5}', ["catalogs/products.jsonl:1: a row needs an `id`: text or a whole number, not 4.5"]),
    (b"\n".join([b"id,title"] + [b"a%d,x" % i for i in range(30)]),
     [f"catalogs/products.jsonl:{n}: not JSON: " for n in range(1, 20)] +
     ["catalogs/products.jsonl:20: not JSON: ", "catalogs/products.jsonl:20: 20 bad rows: the rest of the file is "
                                                "not checked"]),
])
def test_a_file_of_another_shape_is_told_once(tmp_path: Path, raw: bytes, told: list[str]) -> None:
    """A pretty-printed export was refused once a line: thousands of problems, and a warning for each field the
    journeys read, "which no row has; its fields are : it renders empty"."""
    root = _topology(tmp_path, raw=raw)
    problems = _problems(root)
    assert len(problems) == len(told) and all(p.startswith(t) for p, t in zip(problems, told, strict=True)), \
        problems
    p = run("validate", str(root))
    assert p.returncode == 1 and "warning" not in p.stderr, p.stderr


def test_a_file_refused_whole_is_told_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each journey's read of it was refused besides, "no catalog 'products'; the topology has none": ten lines
    for a catalog over the row limit, all but the first pointing away from it."""
    from cjo_stream.journeys import catalogs

    (tmp_path / "csv").mkdir()
    (tmp_path / "big").mkdir()
    assert _problems(_topology(tmp_path / "csv", raw=b"id,title\nsku-1,Red shoes", name="products.csv")) == [
        "catalogs/products.csv:1: a catalog is a .jsonl file (one JSON object per line, each with an `id`): "
        "convert it, or move it out of catalogs/"]
    (tmp_path / "caps").mkdir()
    assert _problems(_topology(tmp_path / "caps", name="Products.jsonl")) == [
        "catalogs/Products.jsonl:1: catalog name 'Products': lower-case letters, digits and _, starting with a letter "
        "(templates read it as catalogs.<name>): rename it products.jsonl"]
    monkeypatch.setattr(catalogs, "MAX_ROWS", 2)
    assert _problems(_topology(tmp_path / "big")) == [
        "catalogs/products.jsonl:1: the catalogs have more than 2 rows in all: every worker holds them in memory; "
        "keep the rows journeys read"]


def test_validate_refuses_it_in_one_line_with_no_traceback(tmp_path: Path) -> None:
    root = _topology(tmp_path, raw=b'{"id": "a"}\n{"id": "a"}')
    p = run("validate", str(root))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert f"{root}/catalogs/products.jsonl:2: id 'a' is also on line 1" in p.stderr, p.stderr


def test_a_value_inside_brackets_looks_up_a_catalog_row_and_nothing_else() -> None:
    e = compile_expression("catalogs.products[event.properties.sku].price > 20")
    cats = {"products": {"a": {"price": 30}, 7: {"price": 10}, "7": {"price": 10}}}
    assert e({"event": {"properties": {"sku": "a"}}, "catalogs": cats}) is True
    assert e({"event": {"properties": {"sku": 7.0}}, "catalogs": cats}) is False  # 7.0 is the row 7
    assert e({"event": {"properties": {"sku": None}}, "catalogs": cats}) is False
    assert e({"event": {"properties": {"sku": ["a"]}}, "catalogs": cats}) is False
    assert ("event", ("properties", "sku")) in e.paths and ("catalogs", ("products",)) in e.paths
    with pytest.raises(ExpressionError) as err:
        compile_expression("profile.traits[event.properties.key]")
    assert "a value looks up a catalog's row only: catalogs.<name>[event.properties.sku]" in str(err.value)


def test_the_braze_and_customerio_rows_load_as_written(tmp_path: Path) -> None:
    """The tables' catalog rows: their template and condition, as written, load with no warning."""
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = [r for r in readme.splitlines() if r.startswith(("| Catalogs (", "| Collections ("))]
    assert len(rows) == 2
    for row in rows:
        tpl, cond = re.findall(r"`(\{\{ catalogs[^`]+\}\}|catalogs\.[^`]+)`", row)
        journey = STOCK.replace("catalogs.products[event.properties.sku].in_stock == true", cond)
        journey = journey.replace('"{{ catalogs.products[event.properties.sku].title }} is back"', f'"{tpl}"')
        root = _topology(tmp_path, journey)
        topo = load_topology(str(root))
        assert not topo.warnings and topo.catalogs["products"]["sku-1"]["title"] == "Red shoes"


def test_validate_and_a_workers_first_line_name_the_catalogs(tmp_path: Path) -> None:
    from cjo_stream.journeys.loader import loaded_text

    root = _topology(tmp_path)
    p = run("validate", str(root))
    assert p.returncode == 0, p.stderr
    assert f"ok  catalog products  (3 rows)  {root}/catalogs/products.jsonl" in p.stdout.splitlines(), p.stdout
    assert loaded_text(load_topology(str(root)).journeys) == "1 journey, 1 catalog (3 rows)"
