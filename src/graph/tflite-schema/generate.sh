#!/bin/sh
# Regenerates the committed TypeScript readers/builders from the two schema subsets.
# Needs flatc (Debian: flatbuffers-compiler); users and CI do not, the output is committed.
set -eu
cd "$(dirname "$0")"
rm -rf generated
flatc --ts -o generated schema.fbs
flatc --ts -o generated metadata_schema.fbs
# NodeNext resolution needs explicit .js extensions on relative imports.
find generated -name '*.ts' -exec sed -i -E "s#(from '\.{1,2}/[^']*)';#\1.js';#" {} +
# Generated code keeps unused helper imports that the project's noUnusedLocals rejects.
find generated -name '*.ts' -exec sed -i '1i // @ts-nocheck' {} +
