"""Local SageMaker for the embedded stack: a control plane that speaks the SageMaker API, runs
CreateTrainingJob requests on this machine under the training-container contract, and serves
endpoints (CreateModel / CreateEndpointConfig / CreateEndpoint, and the runtime's InvokeEndpoint on
the same port) with model-server processes under the inference-container contract.

    from embedded_stack.sagemaker_local import start_server
    sm = start_server(0, moto_url, state_dir)   # sm.url is the sagemaker endpoint_url
    python -m embedded_stack.sagemaker_local --port P --moto-url U --state DIR
"""

from embedded_stack.sagemaker_local.server import LocalSageMaker, start_server

__all__ = ["LocalSageMaker", "start_server"]
