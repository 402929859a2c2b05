// test_json.c — JSON reader (values, errors with line:col, unicode) and writer (diffusers layout).
#include "tests/test_util.h"
#include "tools/json.h"

static pt_json *parse(const char *s) { return pt_json_parse(s, strlen(s), "cfg.json"); }

TEST_CASE(nested_values) {
    pt_json *j = parse("{\"a\": 1, \"b\": [1, 2, 3], \"c\": {\"d\": \"x\", \"e\": [true, false, null]},\n"
                       " \"f\": -2.5e-3, \"g\": 0, \"h\": 1E+2, \"s\": [\"p\", \"q\"], \"a\": 7}");
    EXPECT(j->type == PT_JSON_OBJ && j->n == 8, "n=%d", j->n);
    EXPECT(pt_json_int(j, "a", 0) == 7, "duplicate key: last wins");
    int arr[4];
    EXPECT(pt_json_int_array(j, "b", arr, 4) == 3 && arr[0] == 1 && arr[2] == 3, "int array");
    EXPECT(pt_json_int_array(j, "zz", arr, 4) == -1, "absent array");
    const pt_json *c = pt_json_get(j, "c");
    EXPECT(c && c->type == PT_JSON_OBJ, "nested object");
    EXPECT(strcmp(pt_json_str(c, "d", ""), "x") == 0, "nested string");
    const pt_json *e = pt_json_get(c, "e");
    EXPECT(e->n == 3 && e->items[0].type == PT_JSON_BOOL && e->items[0].boolean == 1 &&
           e->items[1].boolean == 0 && e->items[2].type == PT_JSON_NULL, "bool/null array");
    EXPECT(pt_json_num(j, "f", 0) == -2.5e-3, "exp number");
    EXPECT(pt_json_num(j, "h", 0) == 100.0, "E+ number");
    EXPECT(pt_json_num(j, "missing", 4.5) == 4.5, "default");
    EXPECT(pt_json_get(j, "missing") == NULL, "absent key");
    const char *ss[4];
    EXPECT(pt_json_str_array(j, "s", ss, 4) == 2 && strcmp(ss[1], "q") == 0, "str array");
    EXPECT(pt_json_get(j, "f")->line == 2, "line of f = %d", pt_json_get(j, "f")->line);
    EXPECT_FAILS(pt_json_str(j, "a", NULL), 2, "cfg.json:2: key \"a\" must be a string");
    EXPECT_FAILS(pt_json_int(j, "f", 0), 2, "\"f\" must be an integer");
    EXPECT_FAILS(pt_json_int_array(j, "b", arr, 2), 2, "at most 2");
    EXPECT_FAILS(pt_json_str_array(j, "b", ss, 4), 2, "element 0 of \"b\" must be a string");
    EXPECT_FAILS(pt_json_bool(c, "d", 0), 2, "\"d\" must be a boolean");
    pt_json_free(j);
}

TEST_CASE(unicode_escapes) {
    pt_json *j = parse("[\"a\\u00e9b\", \"\\u20ac\", \"\\ud83d\\ude00\", \"\\n\\t\\\"\\\\\\/\", \"caf\xc3\xa9\"]");
    EXPECT(strcmp(j->items[0].str, "a\xc3\xa9" "b") == 0, "2-byte: %s", j->items[0].str);
    EXPECT(strcmp(j->items[1].str, "\xe2\x82\xac") == 0, "3-byte euro");
    EXPECT(strcmp(j->items[2].str, "\xf0\x9f\x98\x80") == 0, "surrogate pair -> 4 bytes");
    EXPECT(strcmp(j->items[3].str, "\n\t\"\\/") == 0, "simple escapes");
    EXPECT(strcmp(j->items[4].str, "caf\xc3\xa9") == 0, "raw utf-8 passes through");
    pt_json_free(j);
}

TEST_CASE(syntax_errors_line_col) {
    // "unet/config.json:3:5: ..." — line 3, column 5 is where the bad token starts
    const char *t1 = "{\n  \"a\": 1,\n    \"b\" 2\n}";
    EXPECT_FAILS(pt_json_parse(t1, strlen(t1), "unet/config.json"), 2, "unet/config.json:3:9: expected ':'");
    const char *t2 = "{\"a\": [1, 2,]}";
    EXPECT_FAILS(pt_json_parse(t2, strlen(t2), "x.json"), 2, "x.json:1:13: expected a value, got ']'");
    const char *t3 = "{\"a\": 1} x";
    EXPECT_FAILS(pt_json_parse(t3, strlen(t3), "x.json"), 2, "x.json:1:10: unexpected 'x'");
    const char *t4 = "{\"a\": \"abc";
    EXPECT_FAILS(pt_json_parse(t4, strlen(t4), "x.json"), 2, "unterminated string");
    const char *t5 = "[01]";
    EXPECT_FAILS(pt_json_parse(t5, strlen(t5), "x.json"), 2, "x.json:1:3: expected ',' or ']'");
    const char *t6 = "[\"\\q\"]";
    EXPECT_FAILS(pt_json_parse(t6, strlen(t6), "x.json"), 2, "invalid escape");
    const char *t7 = "[1 2]";
    EXPECT_FAILS(pt_json_parse(t7, strlen(t7), "x.json"), 2, "x.json:1:4");
    EXPECT_FAILS(pt_json_parse("", 0, "empty.json"), 2, "empty.json:1:1: expected a value");
    char deep[600];
    memset(deep, '[', sizeof deep);
    EXPECT_FAILS(pt_json_parse(deep, sizeof deep, "deep.json"), 2, "nesting deeper");
    // length is honoured: trailing garbage beyond len is not read
    pt_json *j = pt_json_parse("[1]GARBAGE", 3, "x");
    EXPECT(j->n == 1 && j->items[0].num == 1, "len honoured");
    pt_json_free(j);
    j = parse("[NaN, -Infinity, 1e400]");
    EXPECT(isnan(j->items[0].num) && isinf(j->items[1].num) && j->items[1].num < 0, "NaN/-Infinity");
    pt_json_free(j);
}

TEST_CASE(writer_diffusers_layout) {
    pt_jbuf b = {0};
    b.indent = 2;
    pt_jbuf_obj_begin(&b);
    pt_jbuf_key(&b, "_class_name"); pt_jbuf_str(&b, "UNet2DConditionModel");
    pt_jbuf_key(&b, "block_out_channels");
    pt_jbuf_arr_begin(&b); pt_jbuf_int(&b, 320); pt_jbuf_int(&b, 640); pt_jbuf_arr_end(&b);
    pt_jbuf_key(&b, "empty"); pt_jbuf_arr_begin(&b); pt_jbuf_arr_end(&b);
    pt_jbuf_key(&b, "eps"); pt_jbuf_num(&b, 1e-05);
    pt_jbuf_key(&b, "beta"); pt_jbuf_num(&b, 0.00085);
    pt_jbuf_key(&b, "one"); pt_jbuf_num(&b, 1.0);
    pt_jbuf_key(&b, "big"); pt_jbuf_num(&b, 100000.0);
    pt_jbuf_key(&b, "flag"); pt_jbuf_bool(&b, 1);
    pt_jbuf_key(&b, "none"); pt_jbuf_null(&b);
    pt_jbuf_key(&b, "q\"\n"); pt_jbuf_str(&b, "a\\b");
    pt_jbuf_obj_end(&b);
    char *s = pt_jbuf_take(&b);
    // expected text = Python json.dumps(d, indent=2) of the same dict (hand-checked)
    const char *want =
        "{\n  \"_class_name\": \"UNet2DConditionModel\",\n  \"block_out_channels\": [\n    320,\n    640\n  ],\n"
        "  \"empty\": [],\n  \"eps\": 1e-05,\n  \"beta\": 0.00085,\n  \"one\": 1.0,\n  \"big\": 100000.0,\n"
        "  \"flag\": true,\n  \"none\": null,\n  \"q\\\"\\n\": \"a\\\\b\"\n}";
    EXPECT(strcmp(s, want) == 0, "got:\n%s", s);
    pt_json *j = pt_json_parse(s, strlen(s), "w");
    EXPECT(pt_json_num(j, "eps", 0) == 1e-05 && pt_json_num(j, "beta", 0) == 0.00085, "round trip numbers");
    EXPECT(strcmp(pt_json_str(j, "q\"\n", ""), "a\\b") == 0, "round trip escapes");
    pt_json_free(j);
    free(s);
    pt_jbuf c = {0};
    pt_jbuf_obj_begin(&c); pt_jbuf_key(&c, "a"); pt_jbuf_arr_begin(&c); pt_jbuf_int(&c, 1); pt_jbuf_num(&c, 0.1);
    pt_jbuf_arr_end(&c); pt_jbuf_key(&c, "b"); pt_jbuf_obj_begin(&c); pt_jbuf_obj_end(&c); pt_jbuf_obj_end(&c);
    s = pt_jbuf_take(&c);
    EXPECT(strcmp(s, "{\"a\":[1,0.1],\"b\":{}}") == 0, "compact: %s", s);
    free(s);
}

TEST_CASE(parse_file_names_path) {
    const char *dir = getenv("POSETUNE_TEST_TMP");
    char path[1024];
    snprintf(path, sizeof path, "%s/test_json_bad.json", dir ? dir : "/tmp");
    if (dir) pt_mkdirs(dir);
    FILE *f = pt_fopen(path, "wb");
    fputs("{\n\"a\": tru\n}", f);
    pt_fclose(f, path);
    char needle[1100];
    snprintf(needle, sizeof needle, "%s:2:6: expected a value", path);
    EXPECT_FAILS(pt_json_parse_file(path), 2, needle);
    remove(path);
}

int main(void) {
    RUN(nested_values);
    RUN(unicode_escapes);
    RUN(syntax_errors_line_col);
    RUN(writer_diffusers_layout);
    RUN(parse_file_names_path);
    return test_summary();
}
