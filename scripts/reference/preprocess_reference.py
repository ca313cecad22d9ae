#!/usr/bin/env python3
"""Independent reference for core/preprocess.ts, computed with Pillow + numpy only.

For each image: decode (PIL), apply EXIF orientation (ImageOps.exif_transpose), convert to RGB
(alpha dropped), resize the short side to 256 with Image.BILINEAR (antialiased in Pillow), the long
side floored as torchvision's Resize(256) does, centre crop 224 (torchvision's CenterCrop offsets,
Python round), /255, normalise with the ImageNet mean/std, then average-pool 8x8 to 3x28x28 (CHW).
Writes <out>/<image name>.json. Run with Debian's python3 (python3-pil, python3-numpy):

    /usr/bin/python3 scripts/reference/preprocess_reference.py test/fixtures/photos test/fixtures/preprocess-reference
"""
import hashlib
import json
import os
import sys

import numpy as np
import PIL
from PIL import Image, ImageOps

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float64)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float64)
SHORT, CROP, POOL = 256, 224, 8


def reference(path):
    with open(path, "rb") as f:
        raw = f.read()
    img = Image.open(path)
    img = ImageOps.exif_transpose(img).convert("RGB")
    w, h = img.size
    if w <= h:
        size = (SHORT, int(SHORT * h / w))
    else:
        size = (int(SHORT * w / h), SHORT)
    img = img.resize(size, Image.BILINEAR)
    left = int(round((size[0] - CROP) / 2.0))
    top = int(round((size[1] - CROP) / 2.0))
    img = img.crop((left, top, left + CROP, top + CROP))
    x = np.asarray(img, dtype=np.float64) / 255.0
    x = (x - MEAN) / STD  # HWC
    x = x.transpose(2, 0, 1)  # CHW
    n = CROP // POOL
    pooled = x.reshape(3, n, POOL, n, POOL).mean(axis=(2, 4))
    return {
        "image": os.path.basename(path),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "decodedSize": [w, h],
        "resizedSize": list(size),
        "cropOffset": [left, top],
        "pool": POOL,
        "shape": [3, n, n],
        "pooled": [round(float(v), 6) for v in pooled.reshape(-1)],
        "generator": {
            "command": "/usr/bin/python3 scripts/reference/preprocess_reference.py " + " ".join(sys.argv[1:]),
            "pillow": PIL.__version__,
            "numpy": np.__version__,
        },
    }


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(src)):
        if not name.lower().endswith((".jpg", ".jpeg", ".png")):
            continue
        ref = reference(os.path.join(src, name))
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(ref, f, separators=(",", ":"))
            f.write("\n")
        print(name, ref["decodedSize"], "->", ref["resizedSize"], ref["cropOffset"])


if __name__ == "__main__":
    main()
