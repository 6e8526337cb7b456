"""The server's ``human_length`` filter writes lengths as the page scripts do (static/js/length.js):
both are checked against the same cases (tests/length_cases.json)."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.template import Context, Template

from rooms.templatetags.lengths import human_length

CASES = json.loads((Path(__file__).parent / "length_cases.json").read_text())


@pytest.mark.parametrize(("seconds", "words"), CASES)
def test_lengths_read_as_words(seconds, words):
    assert human_length(timedelta(seconds=seconds)) == words
    assert human_length(seconds) == words


def test_the_filter_in_a_template_and_with_nothing():
    template = Template("{% load lengths %}[{{ d|human_length }}]")
    assert template.render(Context({"d": timedelta(seconds=17, microseconds=250000)})) == "[17 seconds]"
    assert template.render(Context({"d": None})) == "[]"
