import pytest

from index.sources.spec import SourcesFileError, parse_duration, read_sources_file


def _file(tmp_path, text):
    path = tmp_path / "verbatim.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_issue_example_reads_as_three_sources(tmp_path):
    specs = read_sources_file(
        _file(
            tmp_path,
            """
[[source]]
name = "handbook"
path = "docs"

[[source]]
name = "guide"
git = "https://github.com/org/project.git"
branch = "main"
include = ["docs/**/*.md", "docs/**/*.rst"]
link = "https://github.com/org/project/blob/{commit}/{path}#L{line_start}-L{line_end}"

[[source]]
name = "site"
sitemap = "https://docs.example.org/sitemap.xml"
refresh = "6h"
""",
        )
    )
    assert [(s.name, s.kind) for s in specs] == [("handbook", "folder"), ("guide", "git"), ("site", "web")]
    assert specs[0].location == str((tmp_path / "docs").resolve())
    assert specs[1].include == ("docs/**/*.md", "docs/**/*.rst") and specs[1].branch == "main"
    assert specs[2].sitemap and specs[2].refresh_seconds == 6 * 3600


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[source]\nname=", "is not valid TOML"),
        ("title = 'x'", "lists no sources"),
        ('[[source]]\nname = "a b"\npath = "d"', "needs a name of letters"),
        ('[[source]]\nname = "a"', "needs exactly one of path, git, sitemap or url"),
        ('[[source]]\nname = "a"\npath = "d"\ngit = "x"', "needs exactly one of"),
        ('[[source]]\nname = "a"\npath = "d"\nbranch = "main"', "does not take: branch"),
        ('[[source]]\nname = "a"\nurl = "ftp://x/"', r"is not an http\(s\) URL"),
        ('[[source]]\nname = "a"\nurl = "https://x/"\nrefresh = "often"', "refresh 'often' is not a duration"),
        ('[[source]]\nname = "a"\npath = "d"\n[[source]]\nname = "a"\npath = "e"', "two sources are named 'a'"),
    ],
)
def test_a_mistake_in_the_sources_file_is_one_line_naming_it(tmp_path, text, message):
    with pytest.raises(SourcesFileError, match=message) as caught:
        read_sources_file(_file(tmp_path, text))
    assert "\n" not in str(caught.value)


def test_durations():
    assert [parse_duration(t) for t in ("30s", "15m", "6h", "1d")] == [30, 900, 21600, 86400]
    with pytest.raises(ValueError):
        parse_duration("0h")
