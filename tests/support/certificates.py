"""A self-signed host certificate (hostcert.pem, hostkey.pem) made with openssl."""

import os
import subprocess


def self_signed(folder, common_name="localhost", days=2):
    """Write hostcert.pem and hostkey.pem (RSA 2048, SAN = common_name) into folder; return both paths."""
    cert, key = os.path.join(folder, "hostcert.pem"), os.path.join(folder, "hostkey.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days),
                    "-subj", "/CN=%s" % common_name, "-addext", "subjectAltName=DNS:%s" % common_name,
                    "-keyout", key, "-out", cert], check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return cert, key
