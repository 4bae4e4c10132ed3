/*
 * openssl-probe: raw facts about what the system OpenSSL does when a process
 * starts with nothing configured (keel-init runs it with an empty
 * environment). It judges nothing; keel boot compares the values against
 * known answers computed outside the image. One "key=value" per line.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

static void hex(const char *key, const unsigned char *b, size_t n)
{
    printf("%s=", key);
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
    printf("\n");
}

static void errors(const char *key)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "none";

    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    printf("%s.error=%s\n", key, buf);
    ERR_clear_error();
}

static int provider(OSSL_PROVIDER *p, void *unused)
{
    int status = -1;
    OSSL_PARAM req[] = { OSSL_PARAM_int("status", &status), OSSL_PARAM_END };

    (void)unused;
    OSSL_PROVIDER_get_params(p, req);
    printf("provider.%s.status=%d\n", OSSL_PROVIDER_get0_name(p), status);
    return 1;
}

static void digest(const char *name)
{
    static const unsigned char msg[] = "abc";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char key[64];
    EVP_MD *md_alg = EVP_MD_fetch(NULL, name, NULL);

    if (md_alg == NULL || !EVP_Digest(msg, 3, md, &n, md_alg, NULL)) {
        printf("%s.result=refused\n", name);
        errors(name);
        EVP_MD_free(md_alg);
        return;
    }
    printf("%s.result=ok\n", name);
    printf("%s.provider=%s\n", name, OSSL_PROVIDER_get0_name(EVP_MD_get0_provider(md_alg)));
    snprintf(key, sizeof(key), "%s.value", name);
    hex(key, md, n);
    EVP_MD_free(md_alg);
}

/* AES-256-GCM: key 00..1f, IV 00..0b, AAD "keel", plaintext "keel-fips". */
static void aes_gcm(void)
{
    unsigned char key[32], iv[12], out[64], tag[16];
    static const unsigned char aad[] = "keel", pt[] = "keel-fips";
    int n = 0, m = 0, ok;
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)i;
    for (int i = 0; i < 12; i++)
        iv[i] = (unsigned char)i;
    ok = c != NULL && ctx != NULL
        && EVP_EncryptInit_ex2(ctx, c, key, iv, NULL)
        && EVP_EncryptUpdate(ctx, NULL, &n, aad, 4)
        && EVP_EncryptUpdate(ctx, out, &n, pt, 9)
        && EVP_EncryptFinal_ex(ctx, out + n, &m)
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag);
    if (!ok) {
        printf("AES-256-GCM.result=refused\n");
        errors("AES-256-GCM");
    } else {
        printf("AES-256-GCM.result=ok\n");
        printf("AES-256-GCM.provider=%s\n", OSSL_PROVIDER_get0_name(EVP_CIPHER_get0_provider(c)));
        hex("AES-256-GCM.ciphertext", out, (size_t)(n + m));
        hex("AES-256-GCM.tag", tag, 16);
    }
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(c);
}

int main(void)
{
    char *conf = CONF_get1_default_config_file();

    printf("version=%s\n", OpenSSL_version(OPENSSL_VERSION_STRING));
    printf("config=%s\n", conf != NULL ? conf : "(none)");
    OPENSSL_free(conf);
    if (!OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL)) {
        printf("init.result=failed\n");
        errors("init");
    } else {
        printf("init.result=ok\n");
    }
    printf("default_properties.fips=%d\n", EVP_default_properties_is_fips_enabled(NULL));
    OSSL_PROVIDER_do_all(NULL, provider, NULL);
    digest("SHA256");
    digest("MD5");
    aes_gcm();
    return 0;
}
