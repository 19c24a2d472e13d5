"""Tool schemas from signatures and docstrings, argument checks, and every schema form."""

from __future__ import annotations

import dataclasses
import enum
from typing import Literal, Optional, TypedDict

import pydantic
import pytest

from ollama_nb.client._errors import InvalidArgumentError, SchemaError
from ollama_nb.client._schema import Schema, first_problem, parse_docstring, type_schema
from ollama_nb.client._tools import Tool, Toolbox


class Address(pydantic.BaseModel):
    street: str
    city: str


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclasses.dataclass
class Box:
    width: float
    label: str = ""


def book(guest: str, nights: int, address: Address, room: Literal["single", "double"] = "single",
         note: Optional[str] = None, colour: Colour = Colour.RED, box: Box | None = None,
         tags: list[str] | None = None) -> dict:
    """Book a room.

    Longer text that is not the description.

    Args:
        guest: who stays
        nights: how many nights,
            at least one
        address: where to send the bill
        room: the kind of room
    """
    return {"guest": guest, "nights": nights, "address": address, "room": room, "note": note,
            "colour": colour, "box": box, "tags": tags}


def test_the_schema_comes_from_the_signature_hints_and_docstring() -> None:
    tool = Tool(book)
    function = tool.schema["function"]
    assert function["name"] == "book" and function["description"] == "Book a room."
    params = function["parameters"]
    assert params["required"] == ["guest", "nights", "address"]
    props = params["properties"]
    assert props["guest"] == {"type": "string", "description": "who stays"}
    assert props["nights"] == {"type": "integer", "description": "how many nights, at least one"}
    assert props["room"] == {"type": "string", "enum": ["single", "double"],
                             "description": "the kind of room", "default": "single"}
    assert props["note"] == {"type": ["string", "null"], "default": None}
    assert props["colour"] == {"type": "string", "enum": ["red", "green"]}  # an Enum default is no JSON
    assert props["box"]["anyOf"][0]["properties"] == {"width": {"type": "number"},
                                                      "label": {"type": "string"}}
    assert props["tags"] == {"anyOf": [{"type": "array", "items": {"type": "string"}},
                                       {"type": "null"}], "default": None}
    assert props["address"]["properties"]["city"]["type"] == "string"  # the pydantic model's schema


def test_arguments_are_checked_and_built_into_the_annotated_types() -> None:
    tool = Tool(book)
    kwargs = tool.arguments({"guest": "Ada", "nights": "2", "address": {"street": "1 Main St",
                                                                        "city": "Lisbon"},
                             "colour": "green", "box": {"width": 2}})
    assert kwargs["nights"] == 2  # "2" from a small model becomes the int the hint asks for
    assert kwargs["address"] == Address(street="1 Main St", city="Lisbon")
    assert kwargs["colour"] is Colour.GREEN and kwargs["box"] == Box(width=2.0)
    for given, message in (
        ({"guest": "Ada", "nights": 1}, "book() is missing the required argument 'address'"),
        ({"guest": "Ada", "nights": 1.5, "address": {}}, "argument 'nights': expected integer, got 1.5"),
        ({"guest": "Ada", "nights": 1, "address": {"street": "x"}},
         "argument 'address.city': missing (required in address)"),
        ({"guest": "Ada", "nights": 1, "address": {"street": "x", "city": "y"}, "room": "suite"},
         "argument 'room': 'suite' is not one of 'single', 'double'"),
        ({"guest": "Ada", "nights": 1, "address": {"street": "x", "city": "y"}, "pets": 2},
         "book() has no parameter 'pets'"),
        (["Ada"], "the arguments must be an object"),
    ):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            tool.arguments(given)


def test_a_toolbox_runs_only_its_own_functions_and_keeps_failures() -> None:
    def fails(x: int) -> int:
        """Fail."""
        raise ZeroDivisionError("no")

    box = Toolbox([book, fails])
    good = box.run(box.start({"id": "call_1", "function": {"name": "fails", "arguments": {"x": 1}}}))
    assert good.error == "ZeroDivisionError: no" and good.content == "Error: ZeroDivisionError: no"
    assert good.id == "call_1" and good.seconds is not None and good.done
    unknown = box.run(box.start({"function": {"name": "os.system", "arguments": {"command": "rm"}}}))
    assert unknown.error == "there is no tool called 'os.system'; the tools are: book, fails"
    as_text = box.run(box.start({"function": {"name": "fails", "arguments": '{"x": "y"}'}}))
    assert as_text.arguments == {"x": "y"} and as_text.error == "argument 'x': expected integer, got 'y'"
    declined = box.run(box.start({"function": {"name": "fails", "arguments": {"x": 1}}}),
                       confirm=lambda name, args: False)
    assert declined.error == "the user declined to run this call" and declined.seconds is None
    with pytest.raises(InvalidArgumentError, match="not an identifier"):
        Toolbox([lambda: 1])
    with pytest.raises(InvalidArgumentError, match="tools must be a list of functions"):
        Toolbox.coerce("book")
    with pytest.raises(InvalidArgumentError, match="parameter 'x'.*cannot describe"):
        Tool(lambda_with_odd_type)


class Odd:
    pass


def lambda_with_odd_type(x: Odd) -> None:
    """An argument no JSON schema can describe."""


def test_docstring_styles() -> None:
    numpy = parse_docstring("""Convert.

    Parameters
    ----------
    amount : float
        How much.
    currency : str
        Which one,
        as ISO code.
    """)
    assert numpy == ("Convert.", {"amount": "How much.", "currency": "Which one, as ISO code."})
    sphinx = parse_docstring("""Convert money.

    :param float amount: How much.
    :param currency: Which one.
    :returns: the amount
    """)
    assert sphinx == ("Convert money.", {"amount": "How much.", "currency": "Which one."})
    assert parse_docstring(None) == ("", {})


class Person(pydantic.BaseModel):
    name: str
    address: Address
    age: int = pydantic.Field(ge=0)


@dataclasses.dataclass
class Order:
    item: str
    quantity: int
    box: Box
    size: Literal["S", "M", "L"] = "M"


class Pet(TypedDict):
    name: str
    legs: int


PET_DICT = {"type": "object", "properties": {"name": {"type": "string"},
                                             "legs": {"type": "integer", "minimum": 0}},
            "required": ["name", "legs"], "additionalProperties": False}


@pytest.mark.parametrize(("spec", "good", "parsed", "bad", "field", "why"), [
    (Person, '{"name": "Ada", "address": {"street": "s", "city": "c"}, "age": 36}',
     Person(name="Ada", address=Address(street="s", city="c"), age=36),
     '{"name": "Ada", "address": {"street": "s"}, "age": 36}', "address.city", "Field required"),
    (Person, '{"name": "Ada", "address": {"street": "s", "city": "c"}, "age": 36}',
     Person(name="Ada", address=Address(street="s", city="c"), age=36),
     '{"name": "Ada", "address": {"street": "s", "city": "c"}, "age": -1}', "age",
     "Input should be greater than or equal to 0"),
    (Order, '{"item": "tea", "quantity": 2, "box": {"width": 1}}',
     Order(item="tea", quantity=2, box=Box(width=1.0)),
     '{"item": "tea", "quantity": 2, "box": {"width": 1}, "size": "XL"}', "size",
     "'XL' is not one of 'S', 'M', 'L'"),
    (Pet, '{"name": "Rex", "legs": 4}', {"name": "Rex", "legs": 4},
     '{"name": "Rex", "legs": "four"}', "legs", "expected integer, got 'four'"),
    (PET_DICT, '{"name": "Rex", "legs": 4}', {"name": "Rex", "legs": 4},
     '{"name": "Rex", "legs": -4}', "legs", "-4 is not at least 0"),
    (PET_DICT, '{"name": "Rex", "legs": 4}', {"name": "Rex", "legs": 4},
     '{"name": "Rex", "legs": 4, "owner": "me"}', "owner", "not an allowed field"),
    (PET_DICT, '{"name": "Rex", "legs": 4}', {"name": "Rex", "legs": 4},
     'Rex has four legs', "", "the answer is not valid JSON"),
])
def test_every_schema_form_parses_and_names_the_field_that_does_not_fit(
        spec, good, parsed, bad, field, why) -> None:
    schema = Schema(spec)
    assert schema.json["type"] == "object" and set(schema.json["properties"]) >= {"name"} or \
        "item" in schema.json["properties"]
    assert schema.parse(good) == parsed
    with pytest.raises(SchemaError) as info:
        schema.parse(bad)
    assert info.value.field == field and info.value.text == bad and why in info.value.message
    assert "\n" not in info.value.message
    if field:
        assert f"field {field!r}: " in info.value.message


def test_schema_json_is_what_goes_out() -> None:
    assert Schema(Person).json["$defs"]["Address"]["required"] == ["street", "city"]
    assert Schema(Order).json["properties"]["size"] == {"type": "string", "enum": ["S", "M", "L"]}
    assert Schema(Order).json["required"] == ["item", "quantity", "box"]
    assert Schema(Pet).json["required"] == ["name", "legs"]
    assert Schema(PET_DICT).json == PET_DICT
    for bad in ("a string", 3, Box(width=1), {"x": object()}):
        with pytest.raises(InvalidArgumentError):
            Schema(bad)


def test_validator_keywords() -> None:
    schema = {"$defs": {"P": {"type": "object", "properties": {"n": {"type": "integer"}}}},
              "type": "array", "items": {"$ref": "#/$defs/P"}, "maxItems": 2}
    assert first_problem([{"n": 1}, {"n": 2.0}], schema) is None  # 2.0 is an integer in JSON
    assert first_problem([{"n": 1}, {"n": "x"}], schema) == ("[1].n", "expected integer, got 'x'")
    assert first_problem([{}, {}, {}], schema) == ("", "3 items, expected at most 2")
    either = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert first_problem(3, either) is None and first_problem(True, either)[1].endswith(
        "fits none of the allowed forms")
    assert type_schema(Optional[Literal["a", 1]]) == {"anyOf": [{"enum": ["a", 1]}, {"type": "null"}]}
    assert type_schema(tuple[int, str])["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert type_schema(dict[str, float]) == {"type": "object", "additionalProperties": {"type": "number"}}
