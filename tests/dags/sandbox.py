"""Preamble of the subprocess scripts that parse DAG files: any socket connect, Variable
lookup or metadata-DB session during parsing raises, so a DAG file that does one fails."""

NO_NETWORK_DB_OR_VARIABLES = r"""
import socket
def refuse(*a, **k):
    raise RuntimeError("network access at DAG parse time")
socket.socket.connect = refuse
socket.create_connection = refuse
from airflow.sdk import Variable
def no_variables(*a, **k):
    raise RuntimeError("Airflow Variable read at DAG parse time")
Variable.get = staticmethod(no_variables)
import airflow.settings
class NoDB:
    def __call__(self, *a, **k):
        raise RuntimeError("metadata database access at DAG parse time")
    def remove(self):
        pass
airflow.settings.Session = NoDB()
"""
