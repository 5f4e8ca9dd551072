"""The web dashboard served by the gateway at ``/dashboard`` (see ``app``)."""
