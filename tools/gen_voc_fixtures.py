#!/usr/bin/python3
"""Writes tests/data/voc/: a tiny PASCAL-VOC devkit's annotations and image set, written by Python's
xml.etree.ElementTree (a writer other than radiossl), laid out as RGZ DR1's devkit is
(RGZdevkit2017/RGZ2017: Annotations/<id>.xml, ImageSets/Main/<set>.txt). The images are written by
the C++ test itself. CI does not run Python; the files are kept in the repository.

  /usr/bin/python3 tools/gen_voc_fixtures.py tests/data/voc

The boxes are chosen so that the tests can work out the cut-outs by hand, for a 40 x 30 image:
- FIRSTJ000001.0+000001: one box, 1-based x 11..20 and y 6..12 (centre (14.5, 8) 0-based,
  10 x 7 pixels, so a 15-pixel cut-out at 1.5x), class 1_1; a second box marked difficult;
- FIRSTJ000002.0+000002: <size> 80 x 60, twice the image, so its boxes are halved: the first
  covers the same pixels as the box above (class 2_2); the second reaches past the right edge
  (clipped, class 1_3), with entities and a comment in its name element;
- FIRSTJ000003.0+000003: listed in the image set with flag -1, so it is not part of the set.
"""
import os
import sys
import xml.etree.ElementTree as ET

out = sys.argv[1]
os.makedirs(os.path.join(out, "Annotations"), exist_ok=True)
os.makedirs(os.path.join(out, "ImageSets", "Main"), exist_ok=True)


def annotation(image_id, size, objects):
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "RGZ2017"
    ET.SubElement(root, "filename").text = image_id + "_radio.png"
    source = ET.SubElement(root, "source")
    ET.SubElement(source, "database").text = "The RGZ Database"
    if size:
        s = ET.SubElement(root, "size")
        ET.SubElement(s, "width").text = str(size[0])
        ET.SubElement(s, "height").text = str(size[1])
        ET.SubElement(s, "depth").text = "3"
    ET.SubElement(root, "segmented").text = "0"
    for name, (x0, y0, x1, y1), difficult in objects:
        o = ET.SubElement(root, "object")
        ET.SubElement(o, "name").text = name
        ET.SubElement(o, "pose").text = "Unspecified"
        ET.SubElement(o, "truncated").text = "0"
        ET.SubElement(o, "difficult").text = "1" if difficult else "0"
        b = ET.SubElement(o, "bndbox")
        for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), (x0, y0, x1, y1)):
            ET.SubElement(b, tag).text = str(v)
    ET.indent(root)
    return ET.ElementTree(root)


annotation("FIRSTJ000001.0+000001", (40, 30),
           [("1_1", (11, 6, 20, 12), False), ("3_3", (2, 2, 5, 5), True)]).write(
    os.path.join(out, "Annotations", "FIRSTJ000001.0+000001.xml"), encoding="utf-8", xml_declaration=True)

tree = annotation("FIRSTJ000002.0+000002", (80, 60),
                  [("2_2", (21, 11, 40, 24), False), ("1_3", (61, 21, 80, 40), False)])
# The second name written with a character reference and a comment around the text.
second = tree.getroot().findall("object")[1].find("name")
second.text = None
second.append(ET.Comment(" components_peaks "))
second[0].tail = "1_3"
tree.write(os.path.join(out, "Annotations", "FIRSTJ000002.0+000002.xml"), encoding="us-ascii",
           xml_declaration=True)
with open(os.path.join(out, "Annotations", "FIRSTJ000002.0+000002.xml"), encoding="ascii") as f:
    text = f.read()
with open(os.path.join(out, "Annotations", "FIRSTJ000002.0+000002.xml"), "w", encoding="ascii") as f:
    f.write(text.replace("<database>The RGZ Database</database>",
                         "<database>RGZ &amp; ClaRAN &#8211; D1</database>"))

annotation("FIRSTJ000003.0+000003", (40, 30), [("1_2", (1, 1, 4, 4), False)]).write(
    os.path.join(out, "Annotations", "FIRSTJ000003.0+000003.xml"), encoding="utf-8", xml_declaration=True)

with open(os.path.join(out, "ImageSets", "Main", "trainD1.txt"), "w") as f:
    f.write("FIRSTJ000001.0+000001  1\nFIRSTJ000002.0+000002  1\n\nFIRSTJ000003.0+000003 -1\n")
