from serlab.loggers import wandb as serlab_wandb


def test_offline_without_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setattr(serlab_wandb, "_reachable", lambda url, timeout: True)
    assert serlab_wandb.resolve_mode(None) == "offline"


def test_offline_when_server_unreachable(monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    assert serlab_wandb.resolve_mode(None, timeout=0.5) == "offline"


def test_explicit_mode_wins(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert serlab_wandb.resolve_mode(None) == "disabled"
    assert serlab_wandb.resolve_mode("online") == "online"


def test_logger_is_built_offline(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    logger = serlab_wandb.wandb_logger(save_dir=str(tmp_path), id_file=str(tmp_path / "run_id"), project="p")
    assert logger._wandb_init["mode"] == "offline"


def test_a_resumed_run_continues_the_stored_wandb_run_and_a_fresh_one_does_not(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    id_file = str(tmp_path / "wandb" / "run_id")
    first = serlab_wandb.wandb_logger(save_dir=str(tmp_path), id_file=id_file, project="p")
    resumed = serlab_wandb.wandb_logger(save_dir=str(tmp_path), id_file=id_file, resume_from="last", project="p")
    assert resumed.version == first.version == (tmp_path / "wandb" / "run_id").read_text().strip()
    restarted = serlab_wandb.wandb_logger(save_dir=str(tmp_path), id_file=id_file, project="p")
    assert restarted.version != first.version
    assert "anonymous" not in restarted._wandb_init  # wandb warns about it on every run
