"""Print, as JSON, the framework image URIs the SageMaker Python SDK gives for scikit-learn and XGBoost.

Run with .venv-sagemaker's python (the SDK cannot share Airflow's environment):

    .venv-sagemaker/bin/python tests/sdk_clients/image_uris_table.py OUT.json \\
        [--every-region sklearn:1.4-2,xgboost:1.7-1] [--sample-regions us-east-1,cn-north-1]

The versions named in --every-region are retrieved for every region the SDK knows; every other
version it knows only in the sample regions (image_uris.retrieve takes ~30 ms a call). OUT.json:
{"sdk_version": ..., "regions": [...], "uris": [[framework, version, scope, region, uri or null]]},
null where the SDK refuses the version for that scope. The XGBoost alias "1" (the built-in
algorithm's image, not the framework container) is left out. All from the SDK's bundled
image_uri_config: no network.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

FRAMEWORKS = ("sklearn", "xgboost")
SCOPES = ("training", "inference")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="where to write the JSON")
    parser.add_argument("--every-region", default="", help="framework:version pairs, comma-separated")
    parser.add_argument("--sample-regions", default="us-east-1,cn-north-1,us-iso-east-1,us-gov-west-1")
    args = parser.parse_args(argv)
    every_region = {tuple(pair.split(":", 1)) for pair in args.every_region.split(",") if pair}
    samples = [r for r in args.sample_regions.split(",") if r]

    import sagemaker
    from sagemaker import image_uris

    config_dir = os.path.join(os.path.dirname(image_uris.__file__), "image_uri_config")
    uris, all_regions = [], set()
    for framework in FRAMEWORKS:
        with open(os.path.join(config_dir, f"{framework}.json")) as fh:
            config = json.load(fh)
        known = [config[scope]["versions"] for scope in SCOPES]
        versions = sorted({v for scope in known for v in scope if v != "1"})
        regions = sorted({r for scope in known for v, c in scope.items() if v != "1" for r in c["registries"]})
        all_regions.update(regions)
        for version in versions:
            for scope in SCOPES:
                for region in regions if (framework, version) in every_region else samples:
                    try:
                        uri = image_uris.retrieve(framework, region, version=version, image_scope=scope)
                    except ValueError:
                        uri = None
                    uris.append([framework, version, scope, region, uri])
    with open(args.out, "w") as fh:
        json.dump({"sdk_version": sagemaker.__version__, "regions": sorted(all_regions), "uris": uris}, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
