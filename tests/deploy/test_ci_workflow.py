"""The GitHub Actions workflow: tests on every pull request, deploy (OIDC) only from main after them."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
import yaml

from deploy import deploy as d

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def triggers(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True


def runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def uses(job: dict, action: str) -> list[dict]:
    return [step for step in job["steps"] if step.get("uses", "").split("@")[0] == action]


def make_calls(workflow: dict) -> list[list[str]]:
    calls = []
    for job in workflow["jobs"].values():
        for script in runs(job):
            for line in script.splitlines():
                words = shlex.split(line)
                if words[:1] == ["make"]:
                    calls.append(words[1:])
    return calls


def test_pull_requests_and_pushes_run_the_ci_script(workflow):
    on = triggers(workflow)
    assert "pull_request" in on and "push" in on
    test = workflow["jobs"]["test"]
    assert test["runs-on"].startswith("ubuntu")
    assert ".ci/run" in runs(test)
    assert os.access(REPO / ".ci" / "run", os.X_OK)
    versions = str(uses(test, "actions/setup-python")[0]["with"]["python-version"]).split()
    assert {"3.11", "3.12"} <= set(versions)
    assert uses(test, "hashicorp/setup-terraform"), "the infra tests need terraform"
    assert "if" not in test, "the tests run for every event"


def test_deploy_runs_only_on_main_after_the_tests(workflow):
    deploy = workflow["jobs"]["deploy"]
    needs = deploy["needs"]
    assert "test" in ([needs] if isinstance(needs, str) else needs)
    condition = deploy["if"].replace(" ", "")
    assert "github.ref=='refs/heads/main'" in condition and "github.event_name=='push'" in condition
    assert "main" in triggers(workflow)["push"]["branches"]
    concurrency = deploy["concurrency"]
    assert concurrency["group"] and concurrency["cancel-in-progress"] is False


def test_deploy_uses_oidc_not_stored_keys(workflow):
    deploy = workflow["jobs"]["deploy"]
    assert deploy["permissions"]["id-token"] == "write"
    (credentials,) = uses(deploy, "aws-actions/configure-aws-credentials")
    settings = credentials["with"]
    assert settings["role-to-assume"].replace(" ", "") == "${{vars.AWS_DEPLOY_ROLE_ARN}}"
    assert settings["aws-region"].startswith("${{ vars.")
    assert not {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"} & set(settings)
    text = WORKFLOW.read_text()
    assert "secrets.AWS" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    assert workflow["permissions"] == {"contents": "read"}, "only the deploy job gets an OIDC token"


def test_make_calls_use_targets_that_exist(workflow):
    makefile = (REPO / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split())
    calls = make_calls(workflow)
    assert calls, "the workflow deploys with make"
    for words in calls:
        targets = [w for w in words if "=" not in w and not w.startswith("-")]
        for target in targets:
            assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"make {target}: no such target"
            assert target in phony, f"make {target}: not in .PHONY"
    deploy_rule = re.search(r"^deploy:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert deploy_rule and "-m deploy.deploy" in deploy_rule.group(1)
    assert "$(TRIGGER)" in deploy_rule.group(1) and "$(TRIGGER_CONF)" in deploy_rule.group(1)


def test_merge_deploys_prod_and_triggers_every_training_dag(workflow, tmp_path):
    (deploy_call,) = [w for w in make_calls(workflow) if w[:1] == ["deploy"]]
    variables = dict(w.split("=", 1) for w in deploy_call if "=" in w)
    assert variables["ENV"] == "prod"
    from deploy import package

    bundle = package.build("prod", tmp_path, account_id="123456789012", region="eu-west-1", revision="r")
    triggered = d.expand_dag_ids([variables["TRIGGER"]], bundle)
    models = sorted("train_" + p.stem for p in (REPO / "include" / "models").glob("*.yaml"))
    assert triggered == models and models  # every model's training DAG, whatever models are configured
    assert d.json.loads(variables["TRIGGER_CONF"]) == {"force_train": True}
